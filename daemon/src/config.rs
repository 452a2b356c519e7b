//! Daemon settings: a TOML file plus `CANARYD_*` environment overrides (config crate).
//!
//! Environment variables name a key path with `__` between levels, after the `CANARYD_`
//! prefix: `CANARYD_AZURE__ARM_BASE_URL`, `CANARYD_AZURE__CREDENTIAL__KIND`,
//! `CANARYD_POLICIES_DIR`, `CANARYD_CLOCK__TIME_SCALE`. The environment wins over the file.
//! Unknown keys (in the file or the environment) are errors naming the key, so a typo never
//! silently falls back to a default. See `daemon/docs/config.md`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use crate::azure::{DEFAULT_ARM_BASE_URL, DEFAULT_LOG_ANALYTICS_BASE_URL};
pub const DEFAULT_POLICIES_DIR: &str = "/etc/canaryd/policies";
pub const DEFAULT_STATE_DB: &str = "/var/lib/canaryd/canaryd.db";
/// Loopback only by default: the status/metrics listener is not meant for the network.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9187";
/// Prefix of the environment overrides.
pub const ENV_PREFIX: &str = "CANARYD";
/// Environment variables with the prefix that are not settings (read by the CLI itself).
pub const ENV_NOT_SETTINGS: &[&str] = &["CANARYD_CONFIG", "CANARYD_LOG", "CANARYD_TOKEN"];
/// Variables with this prefix tune the project's tests and benches, never the daemon (so a CI
/// that exports one does not make every daemon it starts refuse its environment).
pub const ENV_TEST_PREFIX: &str = "CANARYD_TEST_";

/// The daemon's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    pub azure: AzureConfig,
    /// Directory of policy files (`*.yaml`, `*.yml`), one rollout policy each.
    pub policies_dir: PathBuf,
    /// SQLite database with rollout states and the decision journal.
    pub state_db: PathBuf,
    /// HTTP listen address (status and health).
    pub listen: SocketAddr,
    pub log_format: LogFormat,
    /// For demos and tests only: a compressed clock.
    pub clock: ClockConfig,
    /// Outgoing webhooks on rollout decisions (see `daemon/docs/notify.md`).
    #[serde(default)]
    pub notify: crate::notify::NotifyConfig,
    /// The HTTP server's tokens (alert webhook, control and read-only API).
    #[serde(default)]
    pub server: ServerConfig,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            azure: AzureConfig::default(),
            policies_dir: PathBuf::from(DEFAULT_POLICIES_DIR),
            state_db: PathBuf::from(DEFAULT_STATE_DB),
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 9187))),
            log_format: LogFormat::Text,
            clock: ClockConfig::default(),
            notify: crate::notify::NotifyConfig::default(),
            server: ServerConfig::default(),
        }
    }
}

/// Azure endpoints and credentials. Every base URL is configurable (sovereign clouds, the
/// emulator); the defaults are Azure's public cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureConfig {
    pub arm_base_url: String,
    pub log_analytics_base_url: String,
    /// Azure Monitor metrics are served by Resource Manager, so this defaults to the ARM base.
    pub metrics_base_url: String,
    pub credential: CredentialConfig,
}

impl Default for AzureConfig {
    fn default() -> Self {
        AzureConfig {
            arm_base_url: DEFAULT_ARM_BASE_URL.into(),
            log_analytics_base_url: DEFAULT_LOG_ANALYTICS_BASE_URL.into(),
            metrics_base_url: DEFAULT_ARM_BASE_URL.into(),
            credential: CredentialConfig::default(),
        }
    }
}

/// How canaryd gets Azure tokens (always through azure_identity).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CredentialConfig {
    pub kind: CredentialKind,
    /// User-assigned managed identity / app registration client id.
    pub client_id: Option<String>,
    pub tenant_id: Option<String>,
    /// Only for `kind = "client_secret"`. Never logged; redacted in Debug. Prefer the
    /// environment (`CANARYD_AZURE__CREDENTIAL__CLIENT_SECRET`) to the file.
    #[serde(skip_serializing)]
    pub client_secret: Option<String>,
    /// Entra ID authority for sovereign clouds, e.g. `https://login.microsoftonline.us`.
    pub authority_host: Option<String>,
}

impl fmt::Debug for CredentialConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialConfig")
            .field("kind", &self.kind)
            .field("client_id", &self.client_id)
            .field("tenant_id", &self.tenant_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("authority_host", &self.authority_host)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// IMDS or App Service / Container Apps identity endpoint (IDENTITY_ENDPOINT).
    #[default]
    ManagedIdentity,
    /// AKS workload identity (AZURE_FEDERATED_TOKEN_FILE).
    WorkloadIdentity,
    /// App registration with a secret (tenant_id, client_id, client_secret required).
    ClientSecret,
    /// `az login` on a workstation.
    AzureCli,
    /// The developer tools chain of azure_identity (Azure CLI, azd).
    DeveloperTools,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Demo and test clock. Production leaves both at their defaults (real time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockConfig {
    /// Simulated seconds per real second (1 = real time).
    pub time_scale: f64,
    /// Simulated start time (Unix seconds); `None` starts at the real current time.
    pub epoch_unix_s: Option<f64>,
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            time_scale: 1.0,
            epoch_unix_s: None,
        }
    }
}

/// Secrets of the HTTP server. Each token is given inline (preferably through the environment,
/// e.g. `CANARYD_SERVER__CONTROL_TOKEN`) or as a `*_file` path whose content (trimmed) is the
/// token. Never logged; redacted in Debug; not serialized. See `daemon/docs/server.md`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Bearer token for the mutating API (pause, resume, promote, abort); also reads.
    #[serde(skip_serializing)]
    pub control_token: Option<String>,
    pub control_token_file: Option<PathBuf>,
    /// Read-only token for the status API, the status page and `/metrics`.
    #[serde(skip_serializing)]
    pub read_token: Option<String>,
    pub read_token_file: Option<PathBuf>,
    /// Secret an Azure Monitor action group sends with its webhook (`?token=` or a header).
    #[serde(skip_serializing)]
    pub alert_token: Option<String>,
    pub alert_token_file: Option<PathBuf>,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |token: &Option<String>| token.as_ref().map(|_| "<redacted>");
        f.debug_struct("ServerConfig")
            .field("control_token", &redacted(&self.control_token))
            .field("control_token_file", &self.control_token_file)
            .field("read_token", &redacted(&self.read_token))
            .field("read_token_file", &self.read_token_file)
            .field("alert_token", &redacted(&self.alert_token))
            .field("alert_token_file", &self.alert_token_file)
            .finish()
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the config file: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Syntax errors, unknown keys, wrong types (the message names the key).
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    /// A value that parses but cannot be used.
    #[error("{origin}: `{key}`: {problem} — fix: {fix}")]
    Invalid {
        origin: String,
        key: String,
        problem: String,
        fix: String,
    },
}

impl DaemonConfig {
    /// Loads the TOML file at `path` (none: defaults only), then applies `CANARYD_*`
    /// environment overrides, then validates.
    pub fn load(path: Option<&Path>) -> Result<DaemonConfig, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self::load_with_env(path, vars)
    }

    /// Like [`DaemonConfig::load`] with the environment given explicitly (for tests and
    /// embedding; `vars` is every variable, those without the prefix are ignored).
    pub fn load_with_env(
        path: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<DaemonConfig, ConfigError> {
        let text = match path {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                        path: path.to_path_buf(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let origin = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "configuration".into());
        Self::build(text.as_deref(), vars, &origin)
    }

    /// Parses a TOML document with no environment overrides.
    pub fn from_toml_str(text: &str) -> Result<DaemonConfig, ConfigError> {
        Self::build(Some(text), Vec::new(), "configuration")
    }

    fn build(
        toml: Option<&str>,
        vars: impl IntoIterator<Item = (String, String)>,
        origin: &str,
    ) -> Result<DaemonConfig, ConfigError> {
        let prefix = format!("{ENV_PREFIX}_");
        let env: config::Map<String, String> = vars
            .into_iter()
            .filter(|(key, _)| {
                let key = key.to_ascii_uppercase();
                key.starts_with(&prefix)
                    && !key.starts_with(ENV_TEST_PREFIX)
                    && !ENV_NOT_SETTINGS.contains(&key.as_str())
            })
            .collect();
        let mut builder = config::Config::builder();
        if let Some(text) = toml {
            builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("_")
                .separator("__")
                .source(Some(env)),
        );
        let parse_error = |error: config::ConfigError| ConfigError::Parse {
            origin: origin.to_string(),
            message: error.to_string(),
        };
        let merged = builder.build().map_err(parse_error)?;
        let config: DaemonConfig = merged.try_deserialize().map_err(parse_error)?;
        config
            .validate()
            .map_err(|(key, problem, fix)| ConfigError::Invalid {
                origin: origin.to_string(),
                key,
                problem,
                fix,
            })?;
        Ok(config)
    }

    /// Checks values serde cannot: URLs, the clock, the credential's required fields.
    fn validate(&self) -> Result<(), (String, String, String)> {
        let invalid = |key: &str, problem: String, fix: &str| {
            Err((key.to_string(), problem, fix.to_string()))
        };
        for (key, url) in [
            ("azure.arm_base_url", &self.azure.arm_base_url),
            (
                "azure.log_analytics_base_url",
                &self.azure.log_analytics_base_url,
            ),
            ("azure.metrics_base_url", &self.azure.metrics_base_url),
        ] {
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            let host = url.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            if !scheme_ok
                || host.trim_end_matches('/').is_empty()
                || url.contains(char::is_whitespace)
            {
                return invalid(
                    key,
                    format!("'{url}' is not an http(s) URL"),
                    "give a base URL such as https://management.azure.com",
                );
            }
        }
        if let Some(host) = &self.azure.credential.authority_host
            && !(host.starts_with("https://") || host.starts_with("http://"))
        {
            return invalid(
                "azure.credential.authority_host",
                format!("'{host}' is not an http(s) URL"),
                "give an authority such as https://login.microsoftonline.com",
            );
        }
        if self.azure.credential.kind == CredentialKind::ClientSecret {
            let credential = &self.azure.credential;
            for (key, value) in [
                ("azure.credential.tenant_id", &credential.tenant_id),
                ("azure.credential.client_id", &credential.client_id),
                ("azure.credential.client_secret", &credential.client_secret),
            ] {
                if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
                    return invalid(
                        key,
                        "is required when azure.credential.kind is client_secret".into(),
                        "set it (the secret preferably through CANARYD_AZURE__CREDENTIAL__CLIENT_SECRET)",
                    );
                }
            }
        }
        if !(self.clock.time_scale.is_finite() && self.clock.time_scale > 0.0) {
            return invalid(
                "clock.time_scale",
                format!("{} is not a positive number", self.clock.time_scale),
                "use 1 for real time (larger values compress time for demos)",
            );
        }
        if let Some(epoch) = self.clock.epoch_unix_s
            && !(epoch.is_finite() && epoch >= 0.0)
        {
            return invalid(
                "clock.epoch_unix_s",
                format!("{epoch} is not a Unix time"),
                "give seconds since 1970-01-01 or remove the key",
            );
        }
        if self.policies_dir.as_os_str().is_empty() {
            return invalid(
                "policies_dir",
                "is empty".into(),
                "give the directory holding the policy files",
            );
        }
        if self.state_db.as_os_str().is_empty() {
            return invalid(
                "state_db",
                "is empty".into(),
                "give the path of the SQLite database",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_in_debug() {
        let credential = CredentialConfig {
            kind: CredentialKind::ClientSecret,
            client_secret: Some("hunter2-very-secret".into()),
            ..CredentialConfig::default()
        };
        let printed = format!("{credential:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("redacted"), "{printed}");
    }
}
