//! Router assembly and bearer-token checks.
//!
//! One listener serves every API. `/msi/token` and `/_emulator/*` need no token; Log Analytics
//! routes need a Log Analytics token; everything else is ARM (including the Azure Monitor
//! metrics API, which ARM fronts) and needs an ARM token. ARM paths are matched
//! case-insensitively by [`crate::arm::dispatch`], which is the router's fallback.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;

use crate::IDENTITY_PATH;
use crate::identity::{Audience, Principal, TokenRejection};
use crate::state::EmulatorState;

pub fn router(state: Arc<EmulatorState>) -> Router {
    let log_analytics = crate::loganalytics::router().route_layer(from_fn_with_state(
        state.clone(),
        require_log_analytics_token,
    ));
    Router::new()
        .route(IDENTITY_PATH, get(crate::identity::token_handler))
        .nest("/_emulator", crate::control::router())
        .merge(log_analytics)
        .fallback(crate::arm::dispatch)
        .with_state(state)
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// Checks the request's bearer token for ARM; on failure, the ARM 401 response to send.
#[allow(clippy::result_large_err)]
pub fn authorize_arm(state: &EmulatorState, headers: &HeaderMap) -> Result<Principal, Response> {
    state
        .tokens
        .check(authorization(headers), Audience::Arm)
        .map_err(|rejection| arm_auth_failure(&rejection))
}

/// ARM's 401: `{"error":{"code","message"}}` plus a `WWW-Authenticate` challenge.
pub fn arm_auth_failure(rejection: &TokenRejection) -> Response {
    let (code, message) = match rejection {
        TokenRejection::Missing => (
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".to_string(),
        ),
        TokenRejection::Unknown => (
            "InvalidAuthenticationToken",
            "The access token is invalid.".to_string(),
        ),
        TokenRejection::Expired { expired_at } => (
            "ExpiredAuthenticationToken",
            format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                crate::clock::rfc3339(*expired_at),
                crate::clock::rfc3339(time::OffsetDateTime::now_utc())
            ),
        ),
        TokenRejection::WrongAudience { resource } => (
            "InvalidAuthenticationTokenAudience",
            format!(
                "The access token has been obtained for wrong audience or resource '{resource}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'."
            ),
        ),
    };
    tracing::info!(code, "rejected an ARM request's bearer token");
    let mut response = crate::arm::arm_error(StatusCode::UNAUTHORIZED, code, &message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\", error_description=\"The access token is missing or invalid.\"",
        ),
    );
    response
}

/// Middleware on the Log Analytics routes: a Log Analytics token or that API's 401.
async fn require_log_analytics_token(
    State(state): State<Arc<EmulatorState>>,
    request: Request,
    next: Next,
) -> Response {
    match state
        .tokens
        .check(authorization(request.headers()), Audience::LogAnalytics)
    {
        Ok(_) => next.run(request).await,
        Err(rejection) => log_analytics_auth_failure(&rejection),
    }
}

/// Log Analytics' 401 in its own error shape.
pub fn log_analytics_auth_failure(rejection: &TokenRejection) -> Response {
    let (code, message) = match rejection {
        TokenRejection::Missing => (
            "AuthorizationRequiredError",
            "Valid authentication was not provided".to_string(),
        ),
        TokenRejection::Unknown => (
            "InvalidTokenError",
            "The provided authentication is not valid for this resource".to_string(),
        ),
        TokenRejection::Expired { .. } => (
            "InvalidTokenError",
            "The provided authentication token has expired".to_string(),
        ),
        TokenRejection::WrongAudience { resource } => (
            "InvalidTokenError",
            format!(
                "The provided authentication is not valid for this resource: the token audience is '{resource}'"
            ),
        ),
    };
    tracing::info!(code, "rejected a Log Analytics request's bearer token");
    let mut response =
        crate::loganalytics::error_response(StatusCode::UNAUTHORIZED, code, &message, None);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\", resource_id=\"https://api.loganalytics.io\"",
        ),
    );
    response
}
