//! Azure Resource Manager client for Azure ML managed online endpoints: read the endpoint and
//! its deployments, PUT the whole endpoint resource (the only way to change traffic; PATCH
//! cannot) and follow the long-running operation to its end.
//!
//! Reads are retried by [`AzureHttp`]. A PUT answered 429/5xx is retried too: ARM did not
//! accept it, so nothing started. A PUT whose operation fails is reported, never re-sent
//! here: whether to try again is the controller's call, after re-reading the endpoint.

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use time::OffsetDateTime;

use super::http::{self, AzureHttp, RetryPolicy};
use super::{ARM_SCOPE, AzureError};
use crate::model::{EndpointRef, Split, TrafficMap};

/// Default `Microsoft.MachineLearningServices` api-version.
pub const DEFAULT_ML_API_VERSION: &str = "2025-12-01";

/// Pages of the deployments list followed at most (a loop guard; Azure lists are short).
const MAX_PAGES: usize = 1000;

/// Tuning of the ARM client.
#[derive(Debug, Clone)]
pub struct ArmOptions {
    pub api_version: String,
    pub retry: RetryPolicy,
    /// Bounds on the wait between LRO polls; within them the service's `Retry-After` wins.
    pub poll_interval_min: Duration,
    pub poll_interval_max: Duration,
    /// Give up following an operation after this long (wall time) → [`LroOutcome::TimedOut`].
    pub lro_timeout: Duration,
}

impl Default for ArmOptions {
    fn default() -> Self {
        Self {
            api_version: DEFAULT_ML_API_VERSION.to_string(),
            retry: RetryPolicy::default(),
            poll_interval_min: Duration::from_millis(500),
            poll_interval_max: Duration::from_secs(30),
            lro_timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// An endpoint as GET returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointResource {
    /// The whole body, kept for the PUT of the whole resource.
    pub raw: Value,
    /// `properties.traffic` / `properties.mirrorTraffic`, normalised.
    pub split: Split,
    /// `properties.provisioningState` (Succeeded, Updating, …).
    pub provisioning_state: String,
}

/// One deployment of an endpoint, as the list returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentInfo {
    pub name: String,
    pub provisioning_state: String,
    /// `sku.capacity`: the instance count.
    pub capacity: Option<u32>,
    pub model: Option<String>,
    pub created_at: Option<OffsetDateTime>,
}

impl DeploymentInfo {
    pub fn is_succeeded(&self) -> bool {
        self.provisioning_state.eq_ignore_ascii_case("Succeeded")
    }
}

/// How a long-running operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LroOutcome {
    Succeeded,
    Failed {
        code: String,
        message: String,
    },
    Canceled,
    /// Still running after `lro_timeout`: the outcome is unknown, re-read the endpoint.
    TimedOut,
}

/// Client for one ARM base URL.
#[derive(Debug, Clone)]
pub struct ArmClient {
    http: AzureHttp,
    base: Url,
    options: ArmOptions,
}

impl ArmClient {
    /// `base_url`: e.g. `https://management.azure.com` (sovereign clouds and the emulator differ).
    pub fn new(
        base_url: &str,
        credential: Arc<dyn TokenCredential>,
        options: ArmOptions,
    ) -> Result<Self, AzureError> {
        let base = parse_base_url(base_url)?;
        let http = AzureHttp::new(credential, ARM_SCOPE, options.retry.clone());
        Ok(Self {
            http,
            base,
            options,
        })
    }

    /// Uses an existing HTTP layer (its scope must be ARM's).
    pub fn with_http(
        base_url: &str,
        http: AzureHttp,
        options: ArmOptions,
    ) -> Result<Self, AzureError> {
        Ok(Self {
            http,
            base: parse_base_url(base_url)?,
            options,
        })
    }

    pub fn options(&self) -> &ArmOptions {
        &self.options
    }

    /// The endpoint's URL (with api-version).
    pub fn endpoint_url(&self, endpoint: &EndpointRef) -> Url {
        self.resource_url(&endpoint.resource_id(), &[])
    }

    fn resource_url(&self, resource_id: &str, extra_segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
            segments.extend(resource_id.split('/').filter(|s| !s.is_empty()));
            segments.extend(extra_segments);
        }
        url.query_pairs_mut()
            .clear()
            .append_pair("api-version", &self.options.api_version);
        url
    }

    /// GET the endpoint.
    pub async fn get_endpoint(
        &self,
        endpoint: &EndpointRef,
    ) -> Result<EndpointResource, AzureError> {
        let url = self.endpoint_url(endpoint);
        let response = self.http.send(Method::GET, url.as_str(), None).await?;
        let raw: Value = http::read_json(response).await?;
        parse_endpoint(raw)
    }

    /// Every deployment of the endpoint, following `nextLink` (only to this client's origin:
    /// the bearer token is never sent anywhere else).
    pub async fn list_deployments(
        &self,
        endpoint: &EndpointRef,
    ) -> Result<Vec<DeploymentInfo>, AzureError> {
        let mut url = self.resource_url(&endpoint.resource_id(), &["deployments"]);
        let mut deployments = Vec::new();
        for _ in 0..MAX_PAGES {
            let response = self.http.send(Method::GET, url.as_str(), None).await?;
            let page: Value = http::read_json(response).await?;
            let items = page.get("value").and_then(Value::as_array).ok_or_else(|| {
                AzureError::InvalidResponse(format!(
                    "the deployments list of {endpoint} has no 'value' array"
                ))
            })?;
            for item in items {
                deployments.push(parse_deployment(item)?);
            }
            match page.get("nextLink").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => url = self.same_origin(next, "nextLink")?,
                _ => return Ok(deployments),
            }
        }
        Err(AzureError::InvalidResponse(format!(
            "the deployments list of {endpoint} did not end after {MAX_PAGES} pages"
        )))
    }

    /// PUT the whole endpoint resource and follow the operation to its end.
    pub async fn put_endpoint(
        &self,
        endpoint: &EndpointRef,
        body: &Value,
    ) -> Result<LroOutcome, AzureError> {
        let url = self.endpoint_url(endpoint);
        let response = self
            .http
            .send(Method::PUT, url.as_str(), Some(body))
            .await?;
        let status = response.status();
        let headers = response.headers().clone();
        let first_wait = http::retry_after(&headers);
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let async_operation = header("azure-asyncoperation");
        let location = header("location");
        let answer: Value = if status == StatusCode::NO_CONTENT {
            Value::Null
        } else {
            http::read_json(response).await.unwrap_or(Value::Null)
        };
        tracing::info!(
            endpoint = %endpoint, status = status.as_u16(),
            asynchronous = async_operation.is_some() || location.is_some(),
            "ARM accepted the endpoint PUT"
        );
        let deadline = tokio::time::Instant::now() + self.options.lro_timeout;
        if let Some(operation) = async_operation {
            let url = self.same_origin(&operation, "Azure-AsyncOperation")?;
            return self.poll_async_operation(url, first_wait, deadline).await;
        }
        if status == StatusCode::ACCEPTED
            && let Some(location) = location
        {
            let url = self.same_origin(&location, "Location")?;
            return self.poll_location(url, first_wait, deadline).await;
        }
        // No operation header: the answer's own provisioningState tells, or the resource does.
        match provisioning_state_of(&answer).as_deref() {
            Some(state) if state.eq_ignore_ascii_case("Succeeded") => Ok(LroOutcome::Succeeded),
            None if status == StatusCode::OK => Ok(LroOutcome::Succeeded),
            _ => self.poll_resource(endpoint, first_wait, deadline).await,
        }
    }

    fn same_origin(&self, link: &str, what: &str) -> Result<Url, AzureError> {
        let url = Url::parse(link).map_err(|e| {
            AzureError::InvalidResponse(format!("{what} '{link}' is not a URL: {e}"))
        })?;
        if url.origin() != self.base.origin() {
            return Err(AzureError::InvalidResponse(format!(
                "{what} points to {}, outside the configured ARM base URL {}; not following it \
                 (the bearer token is only sent to the configured ARM host)",
                url.origin().ascii_serialization(),
                self.base.origin().ascii_serialization()
            )));
        }
        Ok(url)
    }

    fn poll_wait(&self, asked: Option<Duration>) -> Duration {
        asked.unwrap_or(self.options.poll_interval_min).clamp(
            self.options.poll_interval_min,
            self.options
                .poll_interval_max
                .max(self.options.poll_interval_min),
        )
    }

    /// Sleeps before the next poll; false when the deadline passed.
    async fn wait_for_poll(&self, asked: Option<Duration>, deadline: tokio::time::Instant) -> bool {
        let wake = tokio::time::Instant::now() + self.poll_wait(asked);
        if wake > deadline {
            tokio::time::sleep_until(deadline).await;
            return false;
        }
        tokio::time::sleep_until(wake).await;
        true
    }

    async fn poll_async_operation(
        &self,
        url: Url,
        mut asked: Option<Duration>,
        deadline: tokio::time::Instant,
    ) -> Result<LroOutcome, AzureError> {
        loop {
            if !self.wait_for_poll(asked, deadline).await {
                return Ok(LroOutcome::TimedOut);
            }
            let response = self.http.send(Method::GET, url.as_str(), None).await?;
            asked = http::retry_after(response.headers());
            let status: Value = http::read_json(response).await?;
            let state = status
                .get("status")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    AzureError::InvalidResponse("an operation status without 'status'".into())
                })?;
            if let Some(outcome) = terminal_outcome(state, status.get("error")) {
                return Ok(outcome);
            }
        }
    }

    async fn poll_location(
        &self,
        url: Url,
        mut asked: Option<Duration>,
        deadline: tokio::time::Instant,
    ) -> Result<LroOutcome, AzureError> {
        loop {
            if !self.wait_for_poll(asked, deadline).await {
                return Ok(LroOutcome::TimedOut);
            }
            // One attempt per poll: a 5xx here is the operation's result, not a hiccup.
            let response = self
                .http
                .send_single(Method::GET, url.as_str(), None)
                .await?;
            let status = response.status();
            asked = http::retry_after(response.headers());
            if status == StatusCode::ACCEPTED {
                continue;
            }
            if status.is_success() {
                return Ok(LroOutcome::Succeeded);
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                continue;
            }
            return Ok(match http::error_from_response(response).await {
                AzureError::Status { code, message, .. } => LroOutcome::Failed { code, message },
                other => LroOutcome::Failed {
                    code: "OperationFailed".into(),
                    message: other.to_string(),
                },
            });
        }
    }

    /// No operation URL: watch the resource's provisioningState.
    async fn poll_resource(
        &self,
        endpoint: &EndpointRef,
        asked: Option<Duration>,
        deadline: tokio::time::Instant,
    ) -> Result<LroOutcome, AzureError> {
        loop {
            if !self.wait_for_poll(asked, deadline).await {
                return Ok(LroOutcome::TimedOut);
            }
            let resource = self.get_endpoint(endpoint).await?;
            if let Some(outcome) = terminal_outcome(&resource.provisioning_state, None) {
                return Ok(outcome);
            }
        }
    }
}

fn parse_base_url(base_url: &str) -> Result<Url, AzureError> {
    let url = Url::parse(base_url.trim()).map_err(|e| {
        AzureError::Config(format!(
            "ARM base URL '{base_url}' is not a URL ({e}); fix: use e.g. https://management.azure.com"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(AzureError::Config(format!(
            "ARM base URL '{base_url}' must be http(s)://host; fix: use e.g. https://management.azure.com"
        )));
    }
    Ok(url)
}

/// A terminal status (`Succeeded`, `Failed`, `Canceled`) as an outcome; None while running.
fn terminal_outcome(state: &str, error: Option<&Value>) -> Option<LroOutcome> {
    if state.eq_ignore_ascii_case("Succeeded") {
        Some(LroOutcome::Succeeded)
    } else if state.eq_ignore_ascii_case("Failed") {
        let field = |name: &str| {
            error
                .and_then(|e| e.get(name))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let code = field("code");
        Some(LroOutcome::Failed {
            code: if code.is_empty() {
                "Failed".into()
            } else {
                code
            },
            message: field("message"),
        })
    } else if state.eq_ignore_ascii_case("Canceled") || state.eq_ignore_ascii_case("Cancelled") {
        Some(LroOutcome::Canceled)
    } else {
        None
    }
}

fn provisioning_state_of(resource: &Value) -> Option<String> {
    resource
        .pointer("/properties/provisioningState")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Parses an endpoint body.
pub fn parse_endpoint(raw: Value) -> Result<EndpointResource, AzureError> {
    if !raw.is_object() {
        return Err(AzureError::InvalidResponse(
            "the endpoint body is not a JSON object".into(),
        ));
    }
    let traffic = traffic_map(&raw, "traffic")?;
    let mirror = traffic_map(&raw, "mirrorTraffic")?;
    let provisioning_state = provisioning_state_of(&raw).unwrap_or_default();
    Ok(EndpointResource {
        split: Split::new(traffic, mirror),
        provisioning_state,
        raw,
    })
}

fn traffic_map(raw: &Value, field: &str) -> Result<TrafficMap, AzureError> {
    let Some(value) = raw.get("properties").and_then(|p| p.get(field)) else {
        return Ok(TrafficMap::new());
    };
    if value.is_null() {
        return Ok(TrafficMap::new());
    }
    let object = value.as_object().ok_or_else(|| {
        AzureError::InvalidResponse(format!("properties.{field} is not an object"))
    })?;
    object
        .iter()
        .map(|(name, pct)| {
            pct.as_u64()
                .and_then(|p| u32::try_from(p).ok())
                .map(|p| (name.clone(), p))
                .ok_or_else(|| {
                    AzureError::InvalidResponse(format!(
                        "properties.{field}.{name} is {pct}, not a whole percentage"
                    ))
                })
        })
        .collect()
}

fn parse_deployment(item: &Value) -> Result<DeploymentInfo, AzureError> {
    let name = item
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| AzureError::InvalidResponse("a deployment without 'name'".into()))?;
    let text = |pointer: &str| item.pointer(pointer).and_then(Value::as_str);
    Ok(DeploymentInfo {
        name: name.to_string(),
        provisioning_state: text("/properties/provisioningState")
            .unwrap_or_default()
            .to_string(),
        capacity: item
            .pointer("/sku/capacity")
            .and_then(Value::as_u64)
            .and_then(|c| u32::try_from(c).ok()),
        model: text("/properties/model").map(str::to_string),
        created_at: text("/systemData/createdAt").and_then(|t| {
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoint_body_parses_like_the_sdk() {
        let parsed = parse_endpoint(json!({
            "name": "my-ep", "location": "eastus",
            "properties": {"traffic": {"Blue": 90, "green": 10, "red": 0},
                           "mirrorTraffic": {"shadow": 5}, "provisioningState": "Succeeded"}
        }))
        .unwrap();
        assert_eq!(parsed.split.traffic_of("blue"), 90);
        assert_eq!(parsed.split.traffic.len(), 2);
        assert_eq!(parsed.split.mirror_of("shadow"), 5);
        assert_eq!(parsed.provisioning_state, "Succeeded");
        assert!(parse_endpoint(json!({"properties": {"traffic": {"blue": "x"}}})).is_err());
    }

    #[test]
    fn operation_statuses() {
        assert_eq!(terminal_outcome("InProgress", None), None);
        assert_eq!(
            terminal_outcome("Succeeded", None),
            Some(LroOutcome::Succeeded)
        );
        assert_eq!(
            terminal_outcome(
                "Failed",
                Some(&json!({"code": "InternalServerError", "message": "boom"}))
            ),
            Some(LroOutcome::Failed {
                code: "InternalServerError".into(),
                message: "boom".into()
            })
        );
        assert_eq!(
            terminal_outcome("Canceled", None),
            Some(LroOutcome::Canceled)
        );
    }

    /// A credential that never issues a token: these tests send nothing.
    #[derive(Debug)]
    struct NoCredential;

    impl TokenCredential for NoCredential {
        fn get_token<'s, 'a, 'b, 'o, 'f>(
            &'s self,
            _scopes: &'a [&'b str],
            _options: Option<azure_core::credentials::TokenRequestOptions<'o>>,
        ) -> std::pin::Pin<
            Box<
                dyn std::future::Future<
                        Output = azure_core::Result<azure_core::credentials::AccessToken>,
                    > + Send
                    + 'f,
            >,
        >
        where
            's: 'f,
            'a: 'f,
            'b: 'f,
            'o: 'f,
            Self: 'f,
        {
            Box::pin(async {
                Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Credential,
                    "no token in unit tests",
                ))
            })
        }
    }

    fn client(base: &str) -> ArmClient {
        ArmClient::new(base, Arc::new(NoCredential), ArmOptions::default()).unwrap()
    }

    #[test]
    fn links_are_followed_only_to_the_configured_origin() {
        let arm = client("https://management.azure.com");
        assert!(
            arm.same_origin(
                "https://management.azure.com/subscriptions/s/x?api-version=1&$skipToken=2",
                "nextLink"
            )
            .is_ok()
        );
        for elsewhere in [
            "https://evil.example/subscriptions/s/x",
            "http://management.azure.com/subscriptions/s/x",
            "https://management.azure.com:8443/subscriptions/s/x",
        ] {
            assert!(
                arm.same_origin(elsewhere, "nextLink").is_err(),
                "{elsewhere}"
            );
        }
    }

    #[test]
    fn endpoint_urls_carry_the_api_version_and_escape_segments() {
        let arm = client("http://127.0.0.1:8080/");
        let endpoint = EndpointRef {
            subscription: "s".into(),
            resource_group: "rg (test)".into(),
            workspace: "ws".into(),
            endpoint: "my-ep".into(),
        };
        let url = arm.endpoint_url(&endpoint);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/subscriptions/s/resourceGroups/rg%20(test)/providers/\
             Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/my-ep?api-version=2025-12-01"
        );
    }

    #[test]
    fn base_urls_are_checked() {
        assert!(parse_base_url("management.azure.com").is_err());
        assert!(parse_base_url("https://management.azure.com").is_ok());
    }
}
