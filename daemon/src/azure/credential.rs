//! Builds the daemon's Azure credential from its configuration, through `azure_identity` 1.x
//! only. The crate caches tokens and refreshes them within 300 s of expiry, so one credential
//! is built per process and shared (`Arc`) by every client.

use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::ClientOptions;
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, DeveloperToolsCredential,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};

use super::AzureError;
pub use crate::config::{CredentialConfig, CredentialKind};

/// Builds the credential `config` asks for.
///
/// - `managed_identity` (default): App Service / Container Apps (`IDENTITY_ENDPOINT` +
///   `IDENTITY_HEADER`) or IMDS on a VM; `client_id` selects a user-assigned identity.
/// - `workload_identity`: AKS federated token (`AZURE_FEDERATED_TOKEN_FILE`); `client_id` and
///   `tenant_id` default to `AZURE_CLIENT_ID` / `AZURE_TENANT_ID`.
/// - `client_secret`: service principal; needs `tenant_id`, `client_id`, `client_secret`.
/// - `azure_cli` / `developer_tools`: a developer's `az login` (developer tools also tries `azd`).
///
/// `authority_host` (sovereign clouds, must be `https://`) applies to the Entra ID flows.
pub fn build_credential(config: &CredentialConfig) -> Result<Arc<dyn TokenCredential>, AzureError> {
    let kind = &config.kind;
    let failed = |e: azure_core::Error| {
        AzureError::Credential(format!(
            "cannot build the {} credential: {e}",
            kind_name(kind)
        ))
    };
    let credential: Arc<dyn TokenCredential> = match kind {
        CredentialKind::ManagedIdentity => {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: non_empty(&config.client_id)
                    .map(|id| UserAssignedId::ClientId(id.to_string())),
                ..Default::default()
            };
            ManagedIdentityCredential::new(Some(options)).map_err(failed)?
        }
        CredentialKind::WorkloadIdentity => {
            let options = WorkloadIdentityCredentialOptions {
                credential_options: ClientAssertionCredentialOptions {
                    client_options: client_options(config)?,
                },
                client_id: non_empty(&config.client_id).map(str::to_string),
                tenant_id: non_empty(&config.tenant_id).map(str::to_string),
                ..Default::default()
            };
            WorkloadIdentityCredential::new(Some(options)).map_err(failed)?
        }
        CredentialKind::ClientSecret => {
            let tenant_id = required(&config.tenant_id, "tenant_id", kind)?;
            let client_id = required(&config.client_id, "client_id", kind)?;
            let secret = required(&config.client_secret, "client_secret", kind)?;
            let options = ClientSecretCredentialOptions {
                client_options: client_options(config)?,
            };
            ClientSecretCredential::new(
                tenant_id,
                client_id.to_string(),
                Secret::new(secret.to_string()),
                Some(options),
            )
            .map_err(failed)?
        }
        CredentialKind::AzureCli => {
            let options = AzureCliCredentialOptions {
                tenant_id: non_empty(&config.tenant_id).map(str::to_string),
                ..Default::default()
            };
            AzureCliCredential::new(Some(options)).map_err(failed)?
        }
        CredentialKind::DeveloperTools => DeveloperToolsCredential::new(None).map_err(failed)?,
    };
    tracing::info!(
        credential = kind_name(kind),
        user_assigned = config.client_id.is_some(),
        "Azure credential ready"
    );
    Ok(credential)
}

/// The config spelling of a credential kind, for messages.
fn kind_name(kind: &CredentialKind) -> &'static str {
    match kind {
        CredentialKind::ManagedIdentity => "managed_identity",
        CredentialKind::WorkloadIdentity => "workload_identity",
        CredentialKind::ClientSecret => "client_secret",
        CredentialKind::AzureCli => "azure_cli",
        CredentialKind::DeveloperTools => "developer_tools",
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn required<'a>(
    value: &'a Option<String>,
    field: &str,
    kind: &CredentialKind,
) -> Result<&'a str, AzureError> {
    non_empty(value).ok_or_else(|| {
        AzureError::Config(format!(
            "azure.credential.{field} is required for credential kind '{}'; fix: set it in the \
             config file or CANARYD_AZURE__CREDENTIAL__{}",
            kind_name(kind),
            field.to_ascii_uppercase()
        ))
    })
}

/// Client options carrying the configured authority host, if any.
fn client_options(config: &CredentialConfig) -> Result<ClientOptions, AzureError> {
    let mut options = ClientOptions::default();
    if let Some(host) = non_empty(&config.authority_host) {
        if !host.starts_with("https://") {
            return Err(AzureError::Config(format!(
                "azure.credential.authority_host '{host}' must be an https:// URL; fix: use e.g. \
                 https://login.microsoftonline.us"
            )));
        }
        let mut custom = CustomConfiguration::default();
        custom.authority_host = host.to_string();
        options.cloud = Some(Arc::new(CloudConfiguration::from(custom)));
    }
    Ok(options)
}
