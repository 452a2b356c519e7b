//! Who may call what: the alert secret, the control token and the read-only token.
//!
//! Tokens are compared in constant time (SHA-256 of both sides, then `subtle`), so neither the
//! content nor the length of a secret leaks through timing. A token is accepted from
//! `Authorization: Bearer …`, the `X-Canaryd-Token` header, the `token` query parameter (Azure
//! action groups can only add a query string) or, for reads, the [`TOKEN_COOKIE`] cookie the
//! status page sets. Tokens are never logged.

use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::config::ServerConfig;

/// Cookie holding the read (or control) token for the status page.
pub const TOKEN_COOKIE: &str = "canaryd_token";
/// Header an alert webhook or a script may use instead of `Authorization`.
pub const TOKEN_HEADER: &str = "x-canaryd-token";

/// One configured secret; only its digest is kept.
#[derive(Clone)]
pub struct Secret([u8; 32]);

impl Secret {
    pub fn new(token: &str) -> Self {
        Secret(Sha256::digest(token.as_bytes()).into())
    }

    /// Constant-time equality with `candidate`.
    pub fn matches(&self, candidate: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        self.0.ct_eq(&digest).into()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The server's secrets and whether it listens on loopback only.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub control: Option<Secret>,
    pub read: Option<Secret>,
    pub alert: Option<Secret>,
    /// Reads need no token when no read token is configured and the listener is loopback.
    pub loopback: bool,
}

#[derive(Debug, Error)]
pub enum TokenError {
    #[error("`server.{key}` and `server.{key}_file` are both set; fix: keep one")]
    Both { key: &'static str },
    #[error(
        "`server.{key}_file`: cannot read {path}: {source}; fix: give a readable file holding the token"
    )]
    Read {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`server.{key}`{from}: the token is empty; fix: give a non-empty token or remove the key"
    )]
    Empty { key: &'static str, from: String },
}

impl Auth {
    /// Reads the configured tokens (inline or from their files).
    pub fn from_config(config: &ServerConfig, loopback: bool) -> Result<Auth, TokenError> {
        Ok(Auth {
            control: resolve(
                "control_token",
                &config.control_token,
                &config.control_token_file,
            )?,
            read: resolve("read_token", &config.read_token, &config.read_token_file)?,
            alert: resolve("alert_token", &config.alert_token, &config.alert_token_file)?,
            loopback,
        })
    }
}

fn resolve(
    key: &'static str,
    inline: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<Secret>, TokenError> {
    let (token, from) = match (inline, file) {
        (Some(_), Some(_)) => return Err(TokenError::Both { key }),
        (Some(token), None) => (token.clone(), String::new()),
        (None, Some(path)) => (
            read_token_file(key, path)?,
            format!(" (from {})", path.display()),
        ),
        (None, None) => return Ok(None),
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenError::Empty { key, from });
    }
    Ok(Some(Secret::new(token)))
}

fn read_token_file(key: &'static str, path: &Path) -> Result<String, TokenError> {
    std::fs::read_to_string(path).map_err(|source| TokenError::Read {
        key,
        path: path.to_path_buf(),
        source,
    })
}

/// Every token the request carries, in the order they are tried.
pub fn presented_tokens(headers: &HeaderMap, query: Option<&str>, cookies: bool) -> Vec<String> {
    let mut tokens = Vec::new();
    for value in headers.get_all(header::AUTHORIZATION) {
        if let Ok(text) = value.to_str()
            && let Some((scheme, token)) = text.trim().split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            tokens.push(token.trim().to_string());
        }
    }
    for value in headers.get_all(TOKEN_HEADER) {
        if let Ok(text) = value.to_str() {
            tokens.push(text.trim().to_string());
        }
    }
    if let Some(token) = query_token(query) {
        tokens.push(token);
    }
    if cookies {
        for value in headers.get_all(header::COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            for pair in text.split(';') {
                if let Some((name, token)) = pair.trim().split_once('=')
                    && name == TOKEN_COOKIE
                {
                    tokens.push(
                        percent_encoding::percent_decode_str(token)
                            .decode_utf8_lossy()
                            .into_owned(),
                    );
                }
            }
        }
    }
    tokens
}

/// The `token` query parameter, decoded as a form value.
pub fn query_token(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
}

/// True when any presented token matches any of `secrets`.
pub fn any_matches(presented: &[String], secrets: &[&Secret]) -> bool {
    // Evaluate every pair: no early exit that would tell which one matched.
    let mut matched = false;
    for token in presented {
        for secret in secrets {
            matched |= secret.matches(token);
        }
    }
    matched
}

/// A JSON error answer.
pub fn refuse(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": error }))).into_response()
}

/// Middleware for read routes (the status API, `/metrics`, and any router the status page
/// adds): the read or the control token, as a bearer header, `?token=` or the cookie. With no
/// read token configured, reads are open on a loopback listener and refused (403) otherwise.
/// A valid `?token=` also sets the cookie, so a page opened with it keeps working.
pub async fn require_read(
    State(auth): State<std::sync::Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    let query = request.uri().query().map(str::to_string);
    let presented = presented_tokens(request.headers(), query.as_deref(), true);
    let secrets: Vec<&Secret> = auth.read.iter().chain(auth.control.iter()).collect();
    if auth.read.is_none() && auth.loopback {
        return next.run(request).await;
    }
    if secrets.is_empty() {
        return refuse(
            StatusCode::FORBIDDEN,
            "reads are refused: no read token is configured and the listener is not loopback; fix: set server.read_token (or CANARYD_SERVER__READ_TOKEN)",
        );
    }
    if presented.is_empty() {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "a read token is required: send `Authorization: Bearer <server.read_token>`, `?token=` or the canaryd_token cookie",
        );
    }
    if !any_matches(&presented, &secrets) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "the token is not the configured server.read_token (nor server.control_token)",
        );
    }
    let from_query = query_token(query.as_deref());
    let mut response = next.run(request).await;
    if let Some(token) = from_query
        && any_matches(std::slice::from_ref(&token), &secrets)
        && let Ok(cookie) = HeaderValue::from_str(&format!(
            "{TOKEN_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
            crate::ui::percent_encode(&token)
        ))
    {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Middleware for mutating routes: the control token as a bearer header (or `X-Canaryd-Token`).
pub async fn require_control(
    State(auth): State<std::sync::Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(secret) = &auth.control else {
        return refuse(
            StatusCode::FORBIDDEN,
            "manual control is disabled: no control token is configured; fix: set server.control_token (or CANARYD_SERVER__CONTROL_TOKEN, or server.control_token_file)",
        );
    };
    let presented = presented_tokens(request.headers(), None, false);
    if presented.is_empty() {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "the control token is required: send `Authorization: Bearer <server.control_token>`",
        );
    }
    if !any_matches(&presented, &[secret]) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "the bearer token is not the configured server.control_token",
        );
    }
    next.run(request).await
}

/// Middleware for the alert webhook: the alert secret as `?token=`, a bearer header or
/// `X-Canaryd-Token`.
pub async fn require_alert(
    State(auth): State<std::sync::Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(secret) = &auth.alert else {
        return refuse(
            StatusCode::FORBIDDEN,
            "the alert webhook is disabled: no alert token is configured; fix: set server.alert_token (or CANARYD_SERVER__ALERT_TOKEN) and add ?token=<it> to the action group's webhook URL",
        );
    };
    let presented = presented_tokens(request.headers(), request.uri().query(), false);
    if !any_matches(&presented, &[secret]) {
        let why = if presented.is_empty() {
            "the alert token is required: add ?token=<server.alert_token> to the webhook URL"
        } else {
            "the token is not the configured server.alert_token"
        };
        tracing::warn!("alert webhook call refused: {why}");
        return refuse(StatusCode::UNAUTHORIZED, why);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_themselves() {
        let secret = Secret::new("s3cret");
        assert!(secret.matches("s3cret"));
        assert!(!secret.matches("s3cre"));
        assert!(!secret.matches("s3cret "));
        assert!(!secret.matches(""));
        assert!(!format!("{secret:?}").contains("s3cret"));
    }

    #[test]
    fn tokens_come_from_bearer_header_query_and_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer aa"));
        headers.insert(TOKEN_HEADER, HeaderValue::from_static("bb"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("x=1; canaryd_token=c%2Bc"),
        );
        let tokens = presented_tokens(&headers, Some("a=1&token=d%20d"), true);
        assert_eq!(tokens, vec!["aa", "bb", "d d", "c+c"]);
        let no_cookies = presented_tokens(&headers, None, false);
        assert_eq!(no_cookies, vec!["aa", "bb"]);
    }

    #[test]
    fn tokens_come_from_the_environment() {
        let config = crate::config::DaemonConfig::load_with_env(
            None,
            vec![
                (
                    "CANARYD_SERVER__CONTROL_TOKEN".to_string(),
                    "env-control".to_string(),
                ),
                (
                    "CANARYD_SERVER__ALERT_TOKEN".to_string(),
                    "env-alert".to_string(),
                ),
                (
                    "CANARYD_TOKEN".to_string(),
                    "a client's, not a setting".to_string(),
                ),
            ],
        )
        .expect("config from the environment");
        let auth = Auth::from_config(&config.server, false).expect("tokens");
        assert!(
            auth.control
                .as_ref()
                .is_some_and(|s| s.matches("env-control"))
        );
        assert!(auth.alert.as_ref().is_some_and(|s| s.matches("env-alert")));
        assert!(auth.read.is_none());
        assert!(!format!("{config:?}").contains("env-control"));
    }

    #[test]
    fn token_files_are_read_and_trimmed_and_conflicts_refused() {
        let dir = std::env::temp_dir().join(format!("canaryd-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("control");
        std::fs::write(&file, "from-file\n").expect("write");
        let config = ServerConfig {
            control_token_file: Some(file.clone()),
            read_token: Some("r".into()),
            ..ServerConfig::default()
        };
        let auth = Auth::from_config(&config, true).expect("tokens");
        assert!(
            auth.control
                .as_ref()
                .is_some_and(|s| s.matches("from-file"))
        );
        assert!(auth.read.as_ref().is_some_and(|s| s.matches("r")));
        assert!(auth.alert.is_none());
        let both = ServerConfig {
            control_token: Some("x".into()),
            control_token_file: Some(file),
            ..ServerConfig::default()
        };
        let error = Auth::from_config(&both, true).expect_err("both set");
        assert!(error.to_string().contains("control_token_file"), "{error}");
        let missing = ServerConfig {
            alert_token_file: Some(dir.join("missing")),
            ..ServerConfig::default()
        };
        let error = Auth::from_config(&missing, true).expect_err("missing file");
        assert!(error.to_string().contains("alert_token_file"), "{error}");
    }
}
