//! Azure Resource Manager for Azure ML managed online endpoints: read and PUT the endpoint
//! (traffic and mirror traffic) through a long-running operation, PATCH (tags and identity
//! only), list and read deployments, fetch deployment logs. Also the ARM front door's own
//! behaviour: bearer tokens, api-version checks, injected faults and token-bucket throttling.
//!
//! ARM paths are case-insensitive, so this module is the router's fallback and parses the
//! path itself. The Azure Monitor metrics API hangs off the endpoint's resource id and is
//! routed from here to [`crate::metrics`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::clock::rfc3339;
use crate::faults::{ArmFault, LroFault};
use crate::identity::{Principal, random_guid};
use crate::model::{Actor, Endpoint, EndpointKey, ProvisioningState, TrafficMap};
use crate::state::EmulatorState;

/// api-versions of `Microsoft.MachineLearningServices` the emulator accepts, newest first.
pub const ML_API_VERSIONS: &[&str] = &[
    "2025-12-01",
    "2025-09-01",
    "2025-06-01",
    "2025-04-01",
    "2024-10-01",
    "2024-04-01",
    "2023-10-01",
    "2023-04-01",
];

const ENDPOINT_TYPE: &str = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints";
const DEPLOYMENT_TYPE: &str =
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments";
/// How long ARM lets an operation run before it would time out, as Azure ML advertises it.
const ASYNC_OPERATION_TIMEOUT: &str = "PT1H";
const READS_HEADER: &str = "x-ms-ratelimit-remaining-subscription-reads";
const WRITES_HEADER: &str = "x-ms-ratelimit-remaining-subscription-writes";

/// ARM's error body: `{"error":{"code","message","target":null,"details":[]}}`.
pub fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    arm_error_with_target(status, code, message, None)
}

fn arm_error_with_target(
    status: StatusCode,
    code: &str,
    message: &str,
    target: Option<&str>,
) -> Response {
    (
        status,
        axum::Json(json!({
            "error": {"code": code, "message": message, "target": target, "details": []}
        })),
    )
        .into_response()
}

/// A request the emulator refuses, rendered in ARM's error shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ArmFailure {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub target: Option<&'static str>,
}

impl ArmFailure {
    pub(crate) fn bad_request(message: impl Into<String>, target: Option<&'static str>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "BadRequest",
            message: message.into(),
            target,
        }
    }

    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            target: None,
        }
    }
}

impl IntoResponse for ArmFailure {
    fn into_response(self) -> Response {
        arm_error_with_target(self.status, self.code, &self.message, self.target)
    }
}

// ---------------------------------------------------------------------------------------------
// Runtime state: long-running operations and throttling buckets.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationStatus {
    InProgress,
    Succeeded,
    Failed,
}

impl OperationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "InProgress",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
        }
    }
}

/// What a PUT asked for; applied when its operation succeeds.
#[derive(Debug, Clone, PartialEq)]
struct DesiredEndpoint {
    traffic: TrafficMap,
    mirror_traffic: TrafficMap,
    auth_mode: String,
    description: Option<String>,
    tags: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone)]
struct Operation {
    id: String,
    key: EndpointKey,
    location: String,
    started: OffsetDateTime,
    due: OffsetDateTime,
    fault: Option<LroFault>,
    status: OperationStatus,
    ended: Option<OffsetDateTime>,
    error: Option<(String, String)>,
    desired: DesiredEndpoint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum RequestKind {
    Read,
    Write,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

/// ARM's moving parts: operations in flight and the throttling buckets.
#[derive(Default)]
pub struct ArmRuntime {
    operations: Mutex<HashMap<String, Operation>>,
    buckets: Mutex<HashMap<(String, String, RequestKind), Bucket>>,
    put_receipts: Mutex<Vec<PutReceipt>>,
}

/// When (wall clock) an endpoint PUT was accepted and the live split it asked for: lets a
/// bench time a client's reaction up to the moment ARM received its request.
#[derive(Debug, Clone)]
pub struct PutReceipt {
    pub endpoint: String,
    pub received: Instant,
    pub traffic: TrafficMap,
}

impl ArmRuntime {
    fn operations(&self) -> MutexGuard<'_, HashMap<String, Operation>> {
        self.operations.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets every operation and bucket (a new scenario replaces the world).
    pub fn reset(&self) {
        self.operations().clear();
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Every accepted endpoint PUT, oldest first.
    pub fn put_receipts(&self) -> Vec<PutReceipt> {
        self.put_receipts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many operations are still `InProgress` (hung ones included).
    pub fn in_progress(&self) -> usize {
        self.operations()
            .values()
            .filter(|op| op.status == OperationStatus::InProgress)
            .count()
    }

    /// Takes one token from the bucket; `Err(retry_after_s)` when it is empty.
    fn take_token(
        &self,
        key: (String, String, RequestKind),
        capacity: u32,
        refill_per_s: f64,
    ) -> Result<u32, u32> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: f64::from(capacity),
            refilled_at: now,
        });
        let elapsed = now.duration_since(bucket.refilled_at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * refill_per_s).min(f64::from(capacity));
        bucket.refilled_at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(bucket.tokens.floor() as u32)
        } else {
            let wait = if refill_per_s > 0.0 {
                ((1.0 - bucket.tokens) / refill_per_s).ceil()
            } else {
                60.0
            };
            Err(wait.clamp(1.0, 3600.0) as u32)
        }
    }
}

/// Finishes every operation whose simulated duration has passed: applies the split of the
/// successful ones (recorded in the traffic history at the operation's end time) and puts the
/// endpoint back to `Succeeded`. Routes call this before they answer, and the clock control
/// after advancing, so a split lands even when nobody polls.
pub fn settle_operations(state: &EmulatorState) {
    settle_operations_at(state, state.now());
}

/// [`settle_operations`] as of simulated time `now` (≤ the clock's now): a generator catching
/// up slot by slot calls it with each slot's start, so rows switch split when the operation
/// ended rather than when someone next looked.
pub fn settle_operations_at(state: &EmulatorState, now: OffsetDateTime) {
    let mut operations = state.arm.operations();
    if operations
        .values()
        .all(|op| op.status != OperationStatus::InProgress)
    {
        return;
    }
    let mut world = state.world();
    let mut due: Vec<&mut Operation> = operations
        .values_mut()
        .filter(|op| {
            op.status == OperationStatus::InProgress
                && op.fault != Some(LroFault::Hang)
                && op.due <= now
        })
        .collect();
    due.sort_by_key(|op| op.due);
    for op in due {
        let ended = op.due;
        op.ended = Some(ended);
        let Some(endpoint) = world.endpoint_mut(&op.key) else {
            op.status = OperationStatus::Failed;
            op.error = Some((
                "ResourceNotFound".into(),
                "The endpoint no longer exists.".into(),
            ));
            continue;
        };
        endpoint.provisioning_state = ProvisioningState::Succeeded;
        if op.fault == Some(LroFault::Fail) {
            op.status = OperationStatus::Failed;
            op.error = Some((
                "InternalServerError".into(),
                "Updating the endpoint failed with an internal error; traffic was not changed. Retry the request.".into(),
            ));
            tracing::info!(operation = %op.id, "operation failed (injected fault)");
            continue;
        }
        // A deployment may have failed while the operation ran.
        if let Some(name) = op
            .desired
            .traffic
            .keys()
            .chain(op.desired.mirror_traffic.keys())
            .find(|name| {
                endpoint
                    .deployment(name)
                    .is_none_or(|d| d.provisioning_state != ProvisioningState::Succeeded)
            })
        {
            op.status = OperationStatus::Failed;
            op.error = Some((
                "UserError".into(),
                format!(
                    "Deployment '{name}' is not in a Succeeded state; traffic was not changed."
                ),
            ));
            continue;
        }
        endpoint.auth_mode = op.desired.auth_mode.clone();
        endpoint.description = op.desired.description.clone();
        endpoint.tags = op.desired.tags.clone();
        world.apply_split(
            &op.key,
            op.desired.traffic.clone(),
            op.desired.mirror_traffic.clone(),
            Actor::Arm,
            Some(op.id.clone()),
            ended,
        );
        op.status = OperationStatus::Succeeded;
        tracing::info!(operation = %op.id, "operation succeeded; split applied");
    }
}

// ---------------------------------------------------------------------------------------------
// Routing.

#[derive(Debug, Clone, PartialEq, Eq)]
enum ArmRoute {
    Endpoint(EndpointKey),
    Deployments(EndpointKey),
    Deployment(EndpointKey, String),
    DeploymentLogs(EndpointKey, String),
    Metrics(EndpointKey, Option<String>),
    OperationStatus { location: String, id: String },
    OperationResult { location: String, id: String },
}

fn is(segment: &str, literal: &str) -> bool {
    segment.eq_ignore_ascii_case(literal)
}

fn parse_route(path: &str) -> Option<ArmRoute> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match segments.as_slice() {
        [s, _subscription, p, ml, l, loc, ops, id]
            if is(s, "subscriptions")
                && is(p, "providers")
                && is(ml, "Microsoft.MachineLearningServices")
                && is(l, "locations") =>
        {
            let (location, id) = (loc.to_ascii_lowercase(), id.to_string());
            if is(ops, "mfeOperationsStatus") {
                Some(ArmRoute::OperationStatus { location, id })
            } else if is(ops, "mfeOperationResults") {
                Some(ArmRoute::OperationResult { location, id })
            } else {
                None
            }
        }
        [s, sub, r, rg, p, ml, w, ws, o, ep, rest @ ..]
            if is(s, "subscriptions")
                && is(r, "resourceGroups")
                && is(p, "providers")
                && is(ml, "Microsoft.MachineLearningServices")
                && is(w, "workspaces")
                && is(o, "onlineEndpoints")
                && [sub, rg, ws, ep].iter().all(|x| !x.is_empty()) =>
        {
            let key = EndpointKey::new(sub, rg, ws, ep);
            match rest {
                [] => Some(ArmRoute::Endpoint(key)),
                [d] if is(d, "deployments") => Some(ArmRoute::Deployments(key)),
                [d, name] if is(d, "deployments") && !name.is_empty() => {
                    Some(ArmRoute::Deployment(key, name.to_string()))
                }
                [d, name, g] if is(d, "deployments") && is(g, "getLogs") => {
                    Some(ArmRoute::DeploymentLogs(key, name.to_string()))
                }
                [p, i, m]
                    if is(p, "providers") && is(i, "Microsoft.Insights") && is(m, "metrics") =>
                {
                    Some(ArmRoute::Metrics(key, None))
                }
                [d, name, p, i, m]
                    if is(d, "deployments")
                        && is(p, "providers")
                        && is(i, "Microsoft.Insights")
                        && is(m, "metrics") =>
                {
                    Some(ArmRoute::Metrics(key, Some(name.to_string())))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Query parameters in order, names compared case-insensitively as ARM does.
#[derive(Debug, Clone, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(query: Option<&str>) -> Self {
        Self(
            query
                .map(|q| {
                    form_urlencoded_pairs(q)
                        .into_iter()
                        .filter(|(k, _)| !k.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `application/x-www-form-urlencoded` decoding of a query string (axum's own decoder).
fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    format!("/?{query}")
        .parse::<Uri>()
        .ok()
        .and_then(|uri| axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri).ok())
        .map(|q| q.0)
        .unwrap_or_default()
}

/// The scheme and authority clients reached us at, for absolute URLs (`nextLink`, LRO URLs).
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn check_api_version(params: &QueryParams, supported: &[&str]) -> Result<String, ArmFailure> {
    match params.get("api-version") {
        None | Some("") => Err(ArmFailure::new(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )),
        Some(v) if supported.contains(&v) => Ok(v.to_string()),
        Some(v) => Err(ArmFailure::new(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{v}' is invalid. The supported versions are '{}'.",
                supported.join(",")
            ),
        )),
    }
}

/// The router's fallback: every ARM request (and anything else nobody else matched).
pub async fn dispatch(
    State(state): State<Arc<EmulatorState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if !path
        .split('/')
        .nth(1)
        .is_some_and(|s| is(s, "subscriptions"))
    {
        return arm_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("No route matches '{path}'."),
        );
    }
    let principal = match crate::server::authorize_arm(&state, &headers) {
        Ok(p) => p,
        Err(response) => return response,
    };
    let kind = if method == Method::GET || method == Method::HEAD {
        RequestKind::Read
    } else {
        RequestKind::Write
    };
    let subscription = path.split('/').nth(2).unwrap_or("").to_ascii_lowercase();
    let mut response = match admit(&state, &subscription, &principal, kind) {
        Err(response) => response,
        Ok((remaining_header, left)) => {
            let params = QueryParams::parse(uri.query());
            let request = ArmRequest {
                state: &state,
                method: &method,
                path,
                params: &params,
                base: base_url(&headers),
                body: &body,
            };
            let mut response = route(&request).unwrap_or_else(IntoResponse::into_response);
            response.headers_mut().insert(
                HeaderName::from_static(remaining_header),
                HeaderValue::from(left),
            );
            response
        }
    };
    response.headers_mut().insert(
        HeaderName::from_static("x-ms-request-id"),
        header_value(&random_guid()),
    );
    response
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The ARM front door before any resource provider: injected faults, then throttling.
/// On admission, the remaining-requests header (name, value) for the response.
#[allow(clippy::result_large_err)]
fn admit(
    state: &EmulatorState,
    subscription: &str,
    principal: &Principal,
    kind: RequestKind,
) -> Result<(&'static str, u32), Response> {
    let fault = state.faults().take_arm();
    let throttling = state.settings().arm_throttling;
    let remaining_header = match kind {
        RequestKind::Read => READS_HEADER,
        RequestKind::Write => WRITES_HEADER,
    };
    let remaining = match &throttling {
        Some(t) => {
            let (capacity, refill) = match kind {
                RequestKind::Read => (t.read_capacity, t.read_refill_per_s),
                RequestKind::Write => (t.write_capacity, t.write_refill_per_s),
            };
            state.arm.take_token(
                (subscription.to_string(), principal.object_id.clone(), kind),
                capacity,
                refill,
            )
        }
        None => {
            let defaults = crate::state::ArmThrottling::default();
            Ok(match kind {
                RequestKind::Read => defaults.read_capacity,
                RequestKind::Write => defaults.write_capacity,
            })
        }
    };
    let with_remaining = |mut response: Response, left: u32| {
        response.headers_mut().insert(
            HeaderName::from_static(remaining_header),
            HeaderValue::from(left),
        );
        response
    };
    if let Some(fault) = fault {
        tracing::info!(?fault, "injecting an ARM fault");
        let left = remaining.unwrap_or(0);
        let response = match fault {
            ArmFault::Throttle { retry_after_s } => throttled(retry_after_s),
            ArmFault::Status(status) => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let (code, message) = if status == StatusCode::SERVICE_UNAVAILABLE {
                    (
                        "ServiceUnavailable",
                        "The service is temporarily unavailable. Please retry later.",
                    )
                } else {
                    (
                        "InternalServerError",
                        "Encountered an internal server error. Please retry the request.",
                    )
                };
                let mut r = arm_error(status, code, message);
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(1u32));
                }
                r
            }
        };
        return Err(with_remaining(response, left));
    }
    match remaining {
        Ok(left) => Ok((remaining_header, left)),
        Err(retry_after_s) => {
            tracing::info!(retry_after_s, "ARM request throttled by the token bucket");
            Err(with_remaining(throttled(retry_after_s), 0))
        }
    }
}

fn throttled(retry_after_s: u32) -> Response {
    let mut r = arm_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        &format!(
            "The request is being throttled as the limit has been reached for this subscription. Retry after {retry_after_s} seconds."
        ),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
    r
}

struct ArmRequest<'a> {
    state: &'a EmulatorState,
    method: &'a Method,
    path: &'a str,
    params: &'a QueryParams,
    base: String,
    body: &'a Bytes,
}

fn route(req: &ArmRequest<'_>) -> Result<Response, ArmFailure> {
    let Some(route) = parse_route(req.path) else {
        return Err(ArmFailure::new(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            format!(
                "The resource type could not be found for the path '{}'.",
                req.path
            ),
        ));
    };
    let supported = if matches!(route, ArmRoute::Metrics(..)) {
        crate::metrics::METRICS_API_VERSIONS
    } else {
        ML_API_VERSIONS
    };
    let api_version = check_api_version(req.params, supported)?;
    settle_operations(req.state);
    let method = req.method;
    match route {
        ArmRoute::Endpoint(key) if method == Method::GET => get_endpoint(req.state, &key),
        ArmRoute::Endpoint(key) if method == Method::PUT => put_endpoint(req, &key, &api_version),
        ArmRoute::Endpoint(key) if method == Method::PATCH => patch_endpoint(req, &key),
        ArmRoute::Deployments(key) if method == Method::GET => {
            list_deployments(req, &key, &api_version)
        }
        ArmRoute::Deployment(key, name) if method == Method::GET => {
            get_deployment(req.state, &key, &name)
        }
        ArmRoute::DeploymentLogs(key, name) if method == Method::POST => get_logs(req, &key, &name),
        ArmRoute::Metrics(key, deployment) if method == Method::GET => {
            let location = {
                let world = req.state.world();
                let endpoint = world
                    .endpoint(&key)
                    .ok_or_else(|| not_found_endpoint(&key))?;
                if let Some(d) = &deployment {
                    endpoint
                        .deployment(d)
                        .ok_or_else(|| not_found_deployment(&key, d))?;
                }
                endpoint.location.clone()
            };
            crate::metrics::respond(
                req.state,
                &key,
                deployment.as_deref(),
                &location,
                req.path,
                req.params,
            )
        }
        ArmRoute::OperationStatus { location, id } if method == Method::GET => {
            operation_status(req.state, &location, &id)
        }
        ArmRoute::OperationResult { location, id } if method == Method::GET => {
            operation_result(req, &location, &id, &api_version)
        }
        _ => Err(ArmFailure::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!(
                "The method '{method}' is not supported on '{}' by this emulator.",
                req.path
            ),
        )),
    }
}

fn not_found_endpoint(key: &EndpointKey) -> ArmFailure {
    ArmFailure::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!(
            "The Resource '{ENDPOINT_TYPE}/{}' under resource group '{}' was not found.",
            key.endpoint, key.resource_group
        ),
    )
}

fn not_found_deployment(key: &EndpointKey, name: &str) -> ArmFailure {
    ArmFailure::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!(
            "The Resource '{DEPLOYMENT_TYPE}/{}/{name}' under resource group '{}' was not found.",
            key.endpoint, key.resource_group
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Bodies.

/// Drops 0-valued entries as the service (and the SDK) do.
fn nonzero(map: &TrafficMap) -> serde_json::Map<String, Value> {
    map.iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect()
}

/// The endpoint's ARM representation; with `desired`, the values a pending PUT asked for.
fn endpoint_body(
    endpoint: &Endpoint,
    desired: Option<&DesiredEndpoint>,
    provisioning_state: ProvisioningState,
) -> Value {
    let (traffic, mirror, auth_mode, description, tags) = match desired {
        Some(d) => (
            &d.traffic,
            &d.mirror_traffic,
            &d.auth_mode,
            &d.description,
            &d.tags,
        ),
        None => (
            &endpoint.traffic,
            &endpoint.mirror_traffic,
            &endpoint.auth_mode,
            &endpoint.description,
            &endpoint.tags,
        ),
    };
    let location = normalized_location(&endpoint.location);
    json!({
        "id": endpoint.resource_id(),
        "name": endpoint.name,
        "type": ENDPOINT_TYPE,
        "location": endpoint.location,
        "kind": "Managed",
        "tags": tags,
        "identity": {
            "type": "SystemAssigned",
            "principalId": endpoint.principal_id,
            "tenantId": endpoint.tenant_id,
        },
        "properties": {
            "authMode": auth_mode,
            "description": description,
            "scoringUri": format!("https://{}.{location}.inference.ml.azure.com/score", endpoint.name),
            "swaggerUri": format!("https://{}.{location}.inference.ml.azure.com/swagger.json", endpoint.name),
            "traffic": nonzero(traffic),
            "mirrorTraffic": nonzero(mirror),
            "provisioningState": provisioning_state.as_str(),
            "publicNetworkAccess": "Enabled",
        },
        "systemData": {
            "lastModifiedAt": rfc3339(endpoint.last_modified_at),
            "lastModifiedBy": endpoint.last_modified_by,
            "lastModifiedByType": "User",
        },
    })
}

fn deployment_body(endpoint: &Endpoint, deployment: &crate::model::Deployment) -> Value {
    json!({
        "id": format!("{}/deployments/{}", endpoint.resource_id(), deployment.name),
        "name": deployment.name,
        "type": DEPLOYMENT_TYPE,
        "location": endpoint.location,
        "kind": "Managed",
        "tags": {},
        "sku": {"name": "Default", "tier": "Standard", "capacity": deployment.capacity},
        "properties": {
            "endpointComputeType": "Managed",
            "provisioningState": deployment.provisioning_state.as_str(),
            "instanceType": deployment.instance_type,
            "model": deployment.model,
            "requestSettings": {
                "requestTimeout": "PT5S",
                "maxConcurrentRequestsPerInstance": 1,
                "maxQueueWait": "PT0.5S",
            },
            "scaleSettings": {"scaleType": "Default"},
            "appInsightsEnabled": false,
        },
        "systemData": {
            "createdAt": rfc3339(deployment.created_at),
            "createdBy": "someone@example.com",
            "createdByType": "User",
            "lastModifiedAt": rfc3339(deployment.created_at),
        },
    })
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn pending_operation(state: &EmulatorState, key: &EndpointKey) -> Option<String> {
    state
        .arm
        .operations()
        .values()
        .find(|op| op.key == *key && op.status == OperationStatus::InProgress)
        .map(|op| op.id.clone())
}

fn get_endpoint(state: &EmulatorState, key: &EndpointKey) -> Result<Response, ArmFailure> {
    let world = state.world();
    let endpoint = world.endpoint(key).ok_or_else(|| not_found_endpoint(key))?;
    Ok(json_response(
        StatusCode::OK,
        endpoint_body(endpoint, None, endpoint.provisioning_state),
    ))
}

fn parse_body(body: &Bytes) -> Result<serde_json::Map<String, Value>, ArmFailure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ArmFailure::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            "The request content was invalid: the body is empty.",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ArmFailure::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            "The request content was invalid: a JSON object was expected.",
        )),
        Err(e) => Err(ArmFailure::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{e}'."),
        )),
    }
}

/// A `traffic` or `mirrorTraffic` object: deployment → integer percent 0..=100, keys
/// lower-cased, 0-valued entries kept (the caller decides).
fn percent_map(value: Option<&Value>, field: &'static str) -> Result<TrafficMap, ArmFailure> {
    let mut map = TrafficMap::new();
    let object = match value {
        None | Some(Value::Null) => return Ok(map),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(ArmFailure::bad_request(
                format!("'{field}' must be an object mapping deployment names to percentages."),
                Some(field),
            ));
        }
    };
    for (name, v) in object {
        let percent = v.as_u64().filter(|p| *p <= 100).ok_or_else(|| {
            ArmFailure::bad_request(
                format!("'{field}' value for deployment '{name}' must be an integer between 0 and 100, got {v}."),
                Some(field),
            )
        })?;
        if name.trim().is_empty() {
            return Err(ArmFailure::bad_request(
                format!("'{field}' names an empty deployment."),
                Some(field),
            ));
        }
        if map
            .insert(name.to_ascii_lowercase(), percent as u32)
            .is_some()
        {
            return Err(ArmFailure::bad_request(
                format!("'{field}' names deployment '{name}' more than once."),
                Some(field),
            ));
        }
    }
    Ok(map)
}

fn strip_zeros(map: TrafficMap) -> TrafficMap {
    map.into_iter().filter(|(_, v)| *v > 0).collect()
}

fn normalized_location(location: &str) -> String {
    location.to_ascii_lowercase().replace(' ', "")
}

/// Checks a PUT body against the current endpoint; what the PUT asks for if it is valid.
fn validate_put(
    endpoint: &Endpoint,
    body: &serde_json::Map<String, Value>,
) -> Result<DesiredEndpoint, ArmFailure> {
    let location = body
        .get("location")
        .and_then(Value::as_str)
        .ok_or_else(|| ArmFailure::bad_request("'location' is required.", Some("location")))?;
    if normalized_location(location) != normalized_location(&endpoint.location) {
        return Err(ArmFailure::new(
            StatusCode::BAD_REQUEST,
            "InvalidResourceLocation",
            format!(
                "The resource '{}' already exists in location '{}' in resource group '{}'. A resource with the same name cannot be created in location '{location}'.",
                endpoint.name, endpoint.location, endpoint.key.resource_group
            ),
        ));
    }
    if let Some(name) = body.get("name").and_then(Value::as_str)
        && !name.eq_ignore_ascii_case(&endpoint.name)
    {
        return Err(ArmFailure::bad_request(
            format!(
                "The name '{name}' in the body does not match the name '{}' in the URL.",
                endpoint.name
            ),
            Some("name"),
        ));
    }
    if let Some(kind) = body.get("kind").and_then(Value::as_str)
        && !kind.eq_ignore_ascii_case("Managed")
    {
        return Err(ArmFailure::bad_request(
            format!("Changing property 'kind' from 'Managed' to '{kind}' is not allowed."),
            Some("kind"),
        ));
    }
    let properties = body
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| ArmFailure::bad_request("'properties' is required.", Some("properties")))?;
    let auth_mode = properties
        .get("authMode")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ArmFailure::bad_request(
                "'properties.authMode' is required.",
                Some("properties.authMode"),
            )
        })?;
    let auth_mode = ["AMLToken", "Key", "AADToken"]
        .into_iter()
        .find(|m| m.eq_ignore_ascii_case(auth_mode))
        .ok_or_else(|| {
            ArmFailure::bad_request(
                format!("'properties.authMode' must be one of AMLToken, Key, AADToken; got '{auth_mode}'."),
                Some("properties.authMode"),
            )
        })?;
    let description = match properties.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(ArmFailure::bad_request(
                "'properties.description' must be a string.",
                Some("properties.description"),
            ));
        }
    };
    let tags = parse_tags(body.get("tags"))?;
    let traffic = percent_map(properties.get("traffic"), "properties.traffic")?;
    let mirror = percent_map(properties.get("mirrorTraffic"), "properties.mirrorTraffic")?;
    for name in traffic.keys().chain(mirror.keys()) {
        if endpoint.deployment(name).is_none() {
            return Err(ArmFailure::bad_request(
                format!(
                    "Deployment '{name}' does not exist in endpoint '{}'.",
                    endpoint.name
                ),
                Some("properties.traffic"),
            ));
        }
    }
    let traffic = strip_zeros(traffic);
    let mirror = strip_zeros(mirror);
    let total: u32 = traffic.values().sum();
    if total != 0 && total != 100 {
        return Err(ArmFailure::bad_request(
            format!("Traffic values must sum to 100 (or all be 0); they sum to {total}."),
            Some("properties.traffic"),
        ));
    }
    if mirror.len() > 1 {
        return Err(ArmFailure::bad_request(
            "Mirror traffic can target at most one deployment.",
            Some("properties.mirrorTraffic"),
        ));
    }
    let mirror_total: u32 = mirror.values().sum();
    if mirror_total > 50 {
        return Err(ArmFailure::bad_request(
            format!("Mirror traffic cannot exceed 50 percent; it is {mirror_total}."),
            Some("properties.mirrorTraffic"),
        ));
    }
    if let Some(both) = mirror.keys().find(|name| traffic.contains_key(*name)) {
        return Err(ArmFailure::bad_request(
            format!("Deployment '{both}' cannot receive both live traffic and mirror traffic."),
            Some("properties.mirrorTraffic"),
        ));
    }
    for name in traffic.keys().chain(mirror.keys()) {
        if let Some(d) = endpoint.deployment(name)
            && d.provisioning_state != ProvisioningState::Succeeded
        {
            return Err(ArmFailure::bad_request(
                format!(
                    "Deployment '{name}' is in provisioning state '{}'; only deployments in state 'Succeeded' can receive traffic.",
                    d.provisioning_state.as_str()
                ),
                Some("properties.traffic"),
            ));
        }
    }
    Ok(DesiredEndpoint {
        traffic,
        mirror_traffic: mirror,
        auth_mode: auth_mode.to_string(),
        description,
        tags,
    })
}

fn parse_tags(value: Option<&Value>) -> Result<serde_json::Map<String, Value>, ArmFailure> {
    match value {
        None | Some(Value::Null) => Ok(serde_json::Map::new()),
        Some(Value::Object(tags)) if tags.values().all(Value::is_string) => Ok(tags.clone()),
        Some(_) => Err(ArmFailure::bad_request(
            "'tags' must be an object of string values.",
            Some("tags"),
        )),
    }
}

fn conflict(endpoint: &str, operation: &str) -> ArmFailure {
    ArmFailure::new(
        StatusCode::CONFLICT,
        "Conflict",
        format!(
            "Endpoint '{endpoint}' is being updated by operation '{operation}'; retry when it has finished."
        ),
    )
}

fn put_endpoint(
    req: &ArmRequest<'_>,
    key: &EndpointKey,
    api_version: &str,
) -> Result<Response, ArmFailure> {
    let state = req.state;
    let received = Instant::now();
    let body = parse_body(req.body)?;
    let settings = state.settings();
    let now = state.now();
    // Lock order everywhere: operations, then world.
    let mut operations = state.arm.operations();
    let mut world = state.world();
    let endpoint = world
        .endpoint_mut(key)
        .ok_or_else(|| not_found_endpoint(key))?;
    if let Some(op) = operations
        .values()
        .find(|op| op.key == *key && op.status == OperationStatus::InProgress)
    {
        return Err(conflict(&endpoint.name, &op.id));
    }
    let desired = validate_put(endpoint, &body)?;
    state
        .arm
        .put_receipts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(PutReceipt {
            endpoint: endpoint.name.clone(),
            received,
            traffic: desired.traffic.clone(),
        });
    let fault = state.faults().take_lro();
    let id = random_guid();
    let location = normalized_location(&endpoint.location);
    endpoint.provisioning_state = ProvisioningState::Updating;
    let response_body = endpoint_body(endpoint, Some(&desired), ProvisioningState::Updating);
    tracing::info!(operation = %id, endpoint = %endpoint.name, ?fault, "accepted an endpoint update");
    operations.insert(
        id.clone(),
        Operation {
            id: id.clone(),
            key: key.clone(),
            location: location.clone(),
            started: now,
            due: now + time::Duration::seconds_f64(settings.lro_duration_s.max(0.0)),
            fault,
            status: OperationStatus::InProgress,
            ended: None,
            error: None,
            desired,
        },
    );
    let ops_base = format!(
        "{}/subscriptions/{}/providers/Microsoft.MachineLearningServices/locations/{location}",
        req.base, key.subscription
    );
    let mut response = json_response(StatusCode::CREATED, response_body);
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("azure-asyncoperation"),
        header_value(&format!(
            "{ops_base}/mfeOperationsStatus/{id}?api-version={api_version}&type=async"
        )),
    );
    headers.insert(
        header::LOCATION,
        header_value(&format!(
            "{ops_base}/mfeOperationResults/{id}?api-version={api_version}&type=location"
        )),
    );
    headers.insert(
        HeaderName::from_static("x-ms-async-operation-timeout"),
        HeaderValue::from_static(ASYNC_OPERATION_TIMEOUT),
    );
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from(settings.lro_retry_after_s),
    );
    Ok(response)
}

fn patch_endpoint(req: &ArmRequest<'_>, key: &EndpointKey) -> Result<Response, ArmFailure> {
    let state = req.state;
    let body = parse_body(req.body)?;
    if let Some(field) = body
        .keys()
        .find(|k| !matches!(k.as_str(), "tags" | "identity"))
    {
        return Err(ArmFailure::bad_request(
            format!(
                "PATCH can update only 'tags' and 'identity'; '{field}' cannot be changed with PATCH. Use PUT with the whole resource to change traffic."
            ),
            Some(if field == "properties" {
                "properties"
            } else {
                "body"
            }),
        ));
    }
    let tags = body.get("tags").map(|t| parse_tags(Some(t))).transpose()?;
    if let Some(identity) = body.get("identity") {
        let kind = identity.get("type").and_then(Value::as_str);
        if !kind.is_some_and(|k| k.eq_ignore_ascii_case("SystemAssigned")) {
            return Err(ArmFailure::bad_request(
                "This endpoint supports only the 'SystemAssigned' identity type.",
                Some("identity.type"),
            ));
        }
    }
    if let Some(op) = pending_operation(state, key) {
        return Err(conflict(&key.endpoint, &op));
    }
    let now = state.now();
    let mut world = state.world();
    let endpoint = world
        .endpoint_mut(key)
        .ok_or_else(|| not_found_endpoint(key))?;
    if let Some(tags) = tags {
        endpoint.tags = tags;
        endpoint.last_modified_at = now;
    }
    Ok(json_response(
        StatusCode::OK,
        endpoint_body(endpoint, None, endpoint.provisioning_state),
    ))
}

fn list_deployments(
    req: &ArmRequest<'_>,
    key: &EndpointKey,
    api_version: &str,
) -> Result<Response, ArmFailure> {
    let page_size = req.state.settings().deployments_page_size.max(1);
    let skip = match req.params.get("$skipToken") {
        None => 0,
        Some(token) => token.parse::<usize>().map_err(|_| {
            ArmFailure::bad_request(
                format!("The $skipToken '{token}' is not valid."),
                Some("$skipToken"),
            )
        })?,
    };
    let world = req.state.world();
    let endpoint = world.endpoint(key).ok_or_else(|| not_found_endpoint(key))?;
    let value: Vec<Value> = endpoint
        .deployments
        .values()
        .skip(skip)
        .take(page_size)
        .map(|d| deployment_body(endpoint, d))
        .collect();
    let mut body = json!({ "value": value });
    if skip + page_size < endpoint.deployments.len() {
        body["nextLink"] = json!(format!(
            "{}{}?api-version={api_version}&$skipToken={}",
            req.base,
            req.path,
            skip + page_size
        ));
    }
    Ok(json_response(StatusCode::OK, body))
}

fn get_deployment(
    state: &EmulatorState,
    key: &EndpointKey,
    name: &str,
) -> Result<Response, ArmFailure> {
    let world = state.world();
    let endpoint = world.endpoint(key).ok_or_else(|| not_found_endpoint(key))?;
    let deployment = endpoint
        .deployment(name)
        .ok_or_else(|| not_found_deployment(key, name))?;
    Ok(json_response(
        StatusCode::OK,
        deployment_body(endpoint, deployment),
    ))
}

/// Most lines `getLogs` returns, as the service caps `tail`.
const MAX_LOG_TAIL: u64 = 10_000;
const DEFAULT_LOG_TAIL: u64 = 100;

fn get_logs(req: &ArmRequest<'_>, key: &EndpointKey, name: &str) -> Result<Response, ArmFailure> {
    let body = if req.body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        parse_body(req.body)?
    };
    let container = match body.get("containerType") {
        None | Some(Value::Null) => "InferenceServer",
        Some(Value::String(s)) if s.eq_ignore_ascii_case("InferenceServer") => "InferenceServer",
        Some(Value::String(s)) if s.eq_ignore_ascii_case("StorageInitializer") => {
            "StorageInitializer"
        }
        Some(other) => {
            return Err(ArmFailure::bad_request(
                format!(
                    "'containerType' must be 'InferenceServer' or 'StorageInitializer', got {other}."
                ),
                Some("containerType"),
            ));
        }
    };
    let tail = match body.get("tail") {
        None | Some(Value::Null) => DEFAULT_LOG_TAIL,
        Some(v) => v
            .as_u64()
            .filter(|t| (1..=MAX_LOG_TAIL).contains(t))
            .ok_or_else(|| {
                ArmFailure::bad_request(
                    format!("'tail' must be an integer between 1 and {MAX_LOG_TAIL}, got {v}."),
                    Some("tail"),
                )
            })?,
    } as usize;
    let (deployment_name, endpoint_name, created_at, model) = {
        let world = req.state.world();
        let endpoint = world.endpoint(key).ok_or_else(|| not_found_endpoint(key))?;
        let d = endpoint
            .deployment(name)
            .ok_or_else(|| not_found_deployment(key, name))?;
        (
            d.name.clone(),
            endpoint.name.clone(),
            d.created_at,
            d.model.clone(),
        )
    };
    let lines = synthetic_log_lines(
        req.state,
        container,
        &endpoint_name,
        &deployment_name,
        &model,
        created_at,
        tail,
    );
    Ok(json_response(
        StatusCode::OK,
        json!({ "content": lines.join("\n") }),
    ))
}

/// Container log lines: the start-up banner, then (for the inference server) one access line
/// per request that deployment served, the most recent `tail` of them.
fn synthetic_log_lines(
    state: &EmulatorState,
    container: &str,
    endpoint_name: &str,
    deployment_name: &str,
    model: &str,
    created_at: OffsetDateTime,
    tail: usize,
) -> Vec<String> {
    let ts = |t: OffsetDateTime| rfc3339(t);
    let mut lines = if container == "StorageInitializer" {
        vec![
            format!("{} | INFO | Downloading model {model}", ts(created_at)),
            format!(
                "{} | INFO | Model downloaded to /var/azureml-app/azureml-models",
                ts(created_at + time::Duration::seconds(20))
            ),
        ]
    } else {
        vec![
            format!(
                "{} | INFO | Starting AzureML inference server for deployment '{deployment_name}' of endpoint '{endpoint_name}'",
                ts(created_at)
            ),
            format!(
                "{} | INFO | Loading model {model}",
                ts(created_at + time::Duration::seconds(5))
            ),
            format!(
                "{} | INFO | Listening at: http://0.0.0.0:31311",
                ts(created_at + time::Duration::seconds(30))
            ),
        ]
    };
    if container == "InferenceServer" {
        let snapshot = state.logs.snapshot();
        let mut access: Vec<String> = Vec::new();
        for row in snapshot.rows() {
            let same_endpoint = snapshot
                .endpoint(row.endpoint)
                .is_some_and(|e| e.endpoint_name.eq_ignore_ascii_case(endpoint_name));
            if !same_endpoint
                || !snapshot
                    .string(row.deployment)
                    .eq_ignore_ascii_case(deployment_name)
            {
                continue;
            }
            let at = crate::clock::from_unix_us(row.time_us);
            access.push(format!(
                "{} | INFO | 127.0.0.1 - \"POST /score HTTP/1.0\" {} {} {}ms",
                ts(at),
                row.model_status_code,
                row.response_payload_size,
                row.total_duration_ms
            ));
        }
        lines.extend(access);
    }
    let start = lines.len().saturating_sub(tail);
    lines.split_off(start)
}

fn find_operation(
    state: &EmulatorState,
    location: &str,
    id: &str,
) -> Result<Operation, ArmFailure> {
    state
        .arm
        .operations()
        .get(id)
        .filter(|op| op.location == location)
        .cloned()
        .ok_or_else(|| {
            ArmFailure::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                format!("Operation '{id}' was not found."),
            )
        })
}

fn operation_status(
    state: &EmulatorState,
    location: &str,
    id: &str,
) -> Result<Response, ArmFailure> {
    let op = find_operation(state, location, id)?;
    let mut body = json!({
        "id": format!(
            "/subscriptions/{}/providers/Microsoft.MachineLearningServices/locations/{}/mfeOperationsStatus/{}",
            op.key.subscription, op.location, op.id
        ),
        "name": op.id,
        "status": op.status.as_str(),
        "startTime": rfc3339(op.started),
    });
    if let Some(ended) = op.ended {
        body["endTime"] = json!(rfc3339(ended));
    }
    if let Some((code, message)) = &op.error {
        body["error"] = json!({"code": code, "message": message});
    }
    let mut response = json_response(StatusCode::OK, body);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(state.settings().lro_retry_after_s),
    );
    Ok(response)
}

/// The `Location` URL: 202 while running, then the endpoint (success) or the error.
fn operation_result(
    req: &ArmRequest<'_>,
    location: &str,
    id: &str,
    api_version: &str,
) -> Result<Response, ArmFailure> {
    let op = find_operation(req.state, location, id)?;
    match op.status {
        OperationStatus::InProgress => {
            let mut response = StatusCode::ACCEPTED.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::LOCATION,
                header_value(&format!(
                    "{}{}?api-version={api_version}&type=location",
                    req.base, req.path
                )),
            );
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(req.state.settings().lro_retry_after_s),
            );
            Ok(response)
        }
        OperationStatus::Succeeded => get_endpoint(req.state, &op.key),
        OperationStatus::Failed => {
            let (code, message) = op.error.unwrap_or_default();
            Ok(arm_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &code,
                &message,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_matched_case_insensitively() {
        let p = "/SUBSCRIPTIONS/S1/resourcegroups/RG/providers/microsoft.machinelearningservices/Workspaces/WS/onlineendpoints/My-Ep";
        assert_eq!(
            parse_route(p),
            Some(ArmRoute::Endpoint(EndpointKey::new(
                "s1", "rg", "ws", "my-ep"
            )))
        );
        assert_eq!(
            parse_route(&format!("{p}/Deployments/Blue/GETLOGS")),
            Some(ArmRoute::DeploymentLogs(
                EndpointKey::new("s1", "rg", "ws", "my-ep"),
                "Blue".into()
            ))
        );
        assert_eq!(
            parse_route(&format!("{p}/providers/microsoft.insights/Metrics")),
            Some(ArmRoute::Metrics(
                EndpointKey::new("s1", "rg", "ws", "my-ep"),
                None
            ))
        );
        assert_eq!(parse_route(&format!("{p}/unknown")), None);
        assert_eq!(
            parse_route(
                "/subscriptions/s/providers/Microsoft.MachineLearningServices/locations/EastUS/mfeOperationsStatus/abc"
            ),
            Some(ArmRoute::OperationStatus {
                location: "eastus".into(),
                id: "abc".into()
            })
        );
    }

    #[test]
    fn empty_token_bucket_refuses_with_a_retry_hint() {
        let rt = ArmRuntime::default();
        let key = ("s".to_string(), "p".to_string(), RequestKind::Write);
        assert_eq!(rt.take_token(key.clone(), 2, 0.5), Ok(1));
        assert_eq!(rt.take_token(key.clone(), 2, 0.5), Ok(0));
        assert_eq!(rt.take_token(key, 2, 0.5), Err(2));
    }

    #[test]
    fn query_parameters_are_decoded_and_case_insensitive() {
        let q = QueryParams::parse(Some(
            "API-VERSION=2025-12-01&%24filter=deployment%20eq%20%27*%27",
        ));
        assert_eq!(q.get("api-version"), Some("2025-12-01"));
        assert_eq!(q.get("$filter"), Some("deployment eq '*'"));
    }
}
