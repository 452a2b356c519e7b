//! The App Service managed-identity endpoint (`GET /msi/token`) and the bearer tokens it issues.
//!
//! `azure_identity`'s `ManagedIdentityCredential` picks the App Service flavour when
//! `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set, and calls
//! `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=…` with `metadata: true` and
//! `x-identity-header`. Tokens are opaque random strings bound to one audience; their expiry is
//! wall-clock time because the crate compares `expires_on` with the real clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::json;
use time::OffsetDateTime;

use crate::state::EmulatorState;

/// The only api-version the App Service identity endpoint answers in this emulator: the one
/// `azure_identity` 1.x sends.
pub const IDENTITY_API_VERSION: &str = "2019-08-01";

/// Which API a token is good for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Azure Resource Manager, which also fronts the Azure Monitor metrics API.
    Arm,
    LogAnalytics,
}

impl Audience {
    /// The audience a `resource` parameter asks for; AAD treats a trailing slash as the same
    /// resource, and ARM also answers to its classic `management.core.windows.net` name.
    pub fn from_resource(resource: &str) -> Option<Self> {
        let normalized = resource.trim().trim_end_matches('/').to_ascii_lowercase();
        match normalized.as_str() {
            "https://management.azure.com" | "https://management.core.windows.net" => {
                Some(Self::Arm)
            }
            "https://api.loganalytics.io" | "https://api.loganalytics.azure.com" => {
                Some(Self::LogAnalytics)
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct IssuedToken {
    audience: Audience,
    /// The resource as the caller spelled it, for error messages about a wrong audience.
    resource: String,
    expires_at: OffsetDateTime,
}

/// A token handed out by the identity endpoint.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub expires_on: OffsetDateTime,
}

/// Who presented a valid token. Every token of one emulator belongs to the same
/// system-assigned identity, as on a single App Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub object_id: String,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("the Authorization header is missing or is not a bearer token")]
    Missing,
    #[error("the access token is not one this emulator issued")]
    Unknown,
    #[error("the access token expired at {expired_at}")]
    Expired { expired_at: OffsetDateTime },
    #[error("the access token was issued for '{resource}', not for this API")]
    WrongAudience { resource: String },
}

/// Issued tokens with their audience and expiry.
pub struct TokenIssuer {
    tokens: Mutex<HashMap<String, IssuedToken>>,
    principal: Principal,
}

impl Default for TokenIssuer {
    fn default() -> Self {
        Self {
            tokens: Mutex::new(HashMap::new()),
            principal: Principal {
                object_id: random_guid(),
            },
        }
    }
}

impl TokenIssuer {
    fn tokens(&self) -> MutexGuard<'_, HashMap<String, IssuedToken>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The identity's object (principal) id.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Issues a fresh token for `audience`, valid for `lifetime` of wall-clock time.
    pub fn issue(&self, audience: Audience, resource: &str, lifetime: time::Duration) -> Issued {
        let now = OffsetDateTime::now_utc();
        // Whole seconds, because `expires_on` travels as unix seconds.
        let expires_on = OffsetDateTime::from_unix_timestamp((now + lifetime).unix_timestamp())
            .unwrap_or(now + lifetime);
        let access_token = format!("emu.{}", random_hex(48));
        let mut tokens = self.tokens();
        // Forget tokens that expired long ago so a long run does not grow without bound; recent
        // ones stay so that presenting one is reported as expired rather than unknown.
        tokens.retain(|_, t| t.expires_at > now - time::Duration::hours(1));
        tokens.insert(
            access_token.clone(),
            IssuedToken {
                audience,
                resource: resource.to_string(),
                expires_at: expires_on,
            },
        );
        Issued {
            access_token,
            expires_on,
        }
    }

    /// Checks an `Authorization` header value for `expected`.
    pub fn check(
        &self,
        authorization: Option<&str>,
        expected: Audience,
    ) -> Result<Principal, TokenRejection> {
        let token = authorization
            .and_then(bearer_token)
            .ok_or(TokenRejection::Missing)?;
        let tokens = self.tokens();
        let issued = tokens.get(token).ok_or(TokenRejection::Unknown)?;
        if issued.audience != expected {
            return Err(TokenRejection::WrongAudience {
                resource: issued.resource.clone(),
            });
        }
        if issued.expires_at <= OffsetDateTime::now_utc() {
            return Err(TokenRejection::Expired {
                expired_at: issued.expires_at,
            });
        }
        Ok(self.principal.clone())
    }

    /// Makes every issued token expired (for tests of refresh and 401 handling). Returns how
    /// many tokens were affected.
    pub fn expire_all(&self) -> usize {
        let past = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        let mut tokens = self.tokens();
        for token in tokens.values_mut() {
            token.expires_at = token.expires_at.min(past);
        }
        tokens.len()
    }

    /// How many tokens are remembered (issued within the last hour or still valid).
    pub fn issued_count(&self) -> usize {
        self.tokens().len()
    }
}

/// The token of `Bearer <token>` (scheme case-insensitive).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A random lower-case hex secret (the default `IDENTITY_HEADER`).
pub fn random_secret() -> String {
    random_hex(32)
}

fn random_hex(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16u32), 16).unwrap_or('0'))
        .collect()
}

/// A random GUID in its canonical text form.
pub fn random_guid() -> String {
    let h = random_hex(32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The App Service identity endpoint's error body.
fn msi_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "statusCode": status.as_u16(),
            "message": message,
            "correlationId": random_guid(),
        })),
    )
        .into_response()
}

/// `GET /msi/token?api-version=2019-08-01&resource=…`
pub async fn token_handler(
    State(state): State<Arc<EmulatorState>>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let Some(secret) = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
    else {
        tracing::info!("identity request without x-identity-header");
        return msi_error(
            StatusCode::BAD_REQUEST,
            "No X-IDENTITY-HEADER header was found in the request.",
        );
    };
    if secret != state.identity_header {
        tracing::info!("identity request with a wrong x-identity-header");
        return msi_error(
            StatusCode::UNAUTHORIZED,
            "The X-IDENTITY-HEADER value is not valid.",
        );
    }
    match param("api-version") {
        Some(IDENTITY_API_VERSION) => {}
        Some(other) => {
            return msi_error(
                StatusCode::BAD_REQUEST,
                &format!("api-version '{other}' is not supported; use '{IDENTITY_API_VERSION}'."),
            );
        }
        None => {
            return msi_error(
                StatusCode::BAD_REQUEST,
                "The api-version query parameter is required.",
            );
        }
    }
    let Some(resource) = param("resource").filter(|r| !r.trim().is_empty()) else {
        return msi_error(
            StatusCode::BAD_REQUEST,
            "The resource query parameter is required.",
        );
    };
    let Some(audience) = Audience::from_resource(resource) else {
        return msi_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "AADSTS500011: The resource principal named {resource} was not found in the tenant."
            ),
        );
    };
    let lifetime_s = state.settings().token_lifetime_s.min(i64::MAX as u64) as i64;
    let issued = state
        .tokens
        .issue(audience, resource, time::Duration::seconds(lifetime_s));
    tracing::debug!(?audience, "issued a managed-identity token");
    let body = json!({
        "access_token": issued.access_token,
        "expires_on": issued.expires_on.unix_timestamp().to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": state.tokens.principal().object_id,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_a_resource_name_the_same_audience() {
        assert_eq!(
            Audience::from_resource("https://management.azure.com/"),
            Some(Audience::Arm)
        );
        assert_eq!(
            Audience::from_resource("https://management.azure.com"),
            Some(Audience::Arm)
        );
        assert_eq!(
            Audience::from_resource("https://api.loganalytics.io"),
            Some(Audience::LogAnalytics)
        );
        assert_eq!(Audience::from_resource("https://vault.azure.net"), None);
    }

    #[test]
    fn a_token_is_valid_only_for_its_audience_and_until_it_expires() {
        let issuer = TokenIssuer::default();
        let t = issuer.issue(
            Audience::Arm,
            "https://management.azure.com",
            time::Duration::hours(1),
        );
        let header = format!("Bearer {}", t.access_token);
        assert!(issuer.check(Some(&header), Audience::Arm).is_ok());
        assert!(matches!(
            issuer.check(Some(&header), Audience::LogAnalytics),
            Err(TokenRejection::WrongAudience { .. })
        ));
        assert_eq!(
            issuer.check(None, Audience::Arm),
            Err(TokenRejection::Missing)
        );
        assert_eq!(
            issuer.check(Some("Bearer nope"), Audience::Arm),
            Err(TokenRejection::Unknown)
        );
        assert_eq!(
            issuer.check(Some(&t.access_token), Audience::Arm),
            Err(TokenRejection::Missing)
        );
        assert_eq!(issuer.expire_all(), 1);
        assert!(matches!(
            issuer.check(Some(&header), Audience::Arm),
            Err(TokenRejection::Expired { .. })
        ));
    }

    #[test]
    fn guids_have_the_canonical_shape() {
        let g = random_guid();
        let parts: Vec<usize> = g.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12]);
    }
}
