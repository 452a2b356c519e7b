//! The traffic controller: the only code that moves an endpoint's traffic.
//!
//! `apply` reads the endpoint, decides whether a change is needed (and whether it is ours to
//! make), PUTs the whole resource with edited `traffic` / `mirrorTraffic` maps as the az CLI
//! does, follows the long-running operation, then reads back and verifies. It never sends a
//! body breaking Azure's validation rules and never fights someone else's change.
//!
//! Idempotent by design: calling `apply` again with the same `expected_current` and `desired`
//! after a crash either finds `desired` in place (`AlreadyInPlace`), or the old split (and
//! applies it), or something else (`OutsideChange`). A restarted daemon uses exactly this to
//! settle an action that may or may not have been applied.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::azure::AzureError;
use crate::azure::arm::{ArmClient, DeploymentInfo, EndpointResource, LroOutcome};
use crate::model::{EndpointRef, Split, SplitError, TrafficMap};

/// Tuning of the controller. Waits are wall-clock time, like the service's own.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// PUTs sent in total for one `apply` when the operation fails and the endpoint is
    /// verified to still show the old split.
    pub lro_attempts: u32,
    /// Wait before the second PUT; doubles for each further one (full jitter, capped at 60 s).
    pub retry_backoff: Duration,
    /// Re-read interval while the endpoint is busy with an operation (provisioningState
    /// `Updating` / `Creating`), ours or someone else's.
    pub busy_poll: Duration,
    /// Give up waiting for a busy endpoint after this long → [`ControllerError::EndpointBusy`].
    pub busy_timeout: Duration,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        Self {
            lro_attempts: 3,
            retry_backoff: Duration::from_secs(2),
            busy_poll: Duration::from_secs(2),
            busy_timeout: Duration::from_secs(120),
        }
    }
}

/// What the endpoint looks like now.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointView {
    pub split: Split,
    pub deployments: Vec<DeploymentInfo>,
    pub provisioning_state: String,
}

impl EndpointView {
    /// The deployment called `name` (case-insensitive), if any.
    pub fn deployment(&self, name: &str) -> Option<&DeploymentInfo> {
        self.deployments
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }
}

/// How an `apply` ended (every case is verified by reading the endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// We changed the split; the endpoint now reports `observed` (== desired).
    Applied { observed: Split },
    /// The endpoint already had the desired split; nothing was sent.
    AlreadyInPlace { observed: Split },
    /// The endpoint shows neither the expected nor the desired split: someone else moved
    /// traffic. Nothing (more) was sent.
    OutsideChange { observed: Split },
}

impl ApplyOutcome {
    pub fn observed(&self) -> &Split {
        match self {
            ApplyOutcome::Applied { observed }
            | ApplyOutcome::AlreadyInPlace { observed }
            | ApplyOutcome::OutsideChange { observed } => observed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControllerError {
    /// The desired split breaks Azure's rules; nothing was sent.
    #[error("refusing to send an invalid split: {0}")]
    InvalidSplit(#[from] SplitError),
    /// The desired split names a deployment that does not exist or is not `Succeeded`;
    /// nothing was sent.
    #[error(
        "refusing to route traffic to deployment '{deployment}': {}",
        match state { Some(s) => format!("its provisioningState is {s}, not Succeeded"), None => "it does not exist".to_string() }
    )]
    DeploymentNotReady {
        deployment: String,
        state: Option<String>,
    },
    /// Every attempt's operation failed; the endpoint was re-read and still shows the old split.
    #[error(
        "traffic change failed after {attempts} attempt(s): {code}: {message} (endpoint verified unchanged)"
    )]
    OperationFailed {
        code: String,
        message: String,
        attempts: u32,
    },
    /// The operation succeeded but the endpoint reports another split.
    #[error("the operation succeeded but the endpoint reports {observed}")]
    VerifyMismatch { observed: Split },
    /// The endpoint stayed busy with an operation (provisioningState `state`) for too long.
    #[error("the endpoint is still {state} after waiting {waited:?}; not touching it")]
    EndpointBusy { state: String, waited: Duration },
    #[error(transparent)]
    Azure(#[from] AzureError),
}

/// Moves traffic on online endpoints through ARM.
#[derive(Debug, Clone)]
pub struct TrafficController {
    arm: ArmClient,
    options: ControllerOptions,
}

impl TrafficController {
    pub fn new(arm: ArmClient, options: ControllerOptions) -> Self {
        Self { arm, options }
    }

    pub fn arm(&self) -> &ArmClient {
        &self.arm
    }

    /// The endpoint's split, deployments and provisioning state.
    pub async fn read(&self, endpoint: &EndpointRef) -> Result<EndpointView, ControllerError> {
        let (resource, deployments) = tokio::join!(
            self.arm.get_endpoint(endpoint),
            self.arm.list_deployments(endpoint)
        );
        let resource = resource?;
        Ok(EndpointView {
            split: resource.split,
            deployments: deployments?,
            provisioning_state: resource.provisioning_state,
        })
    }

    /// Moves `endpoint` from `expected_current` to `desired` (see the module docs).
    pub async fn apply(
        &self,
        endpoint: &EndpointRef,
        expected_current: &Split,
        desired: &Split,
    ) -> Result<ApplyOutcome, ControllerError> {
        // Normalise both as Azure reports splits, so comparisons mean "routes the same traffic".
        let desired = Split::new(desired.traffic.clone(), desired.mirror.clone());
        let expected = Split::new(
            expected_current.traffic.clone(),
            expected_current.mirror.clone(),
        );
        if let Err(e) = desired.validate() {
            tracing::warn!(endpoint = %endpoint, to = %desired, error = %e, "invalid split not sent");
            return Err(e.into());
        }

        let mut current = self.read_settled(endpoint).await?;
        if current.split == desired {
            tracing::info!(endpoint = %endpoint, split = %desired, "traffic already in place");
            return Ok(ApplyOutcome::AlreadyInPlace {
                observed: current.split,
            });
        }
        if current.split != expected {
            tracing::warn!(
                endpoint = %endpoint, expected = %expected, observed = %current.split, to = %desired,
                "traffic was changed outside the daemon; not sending"
            );
            return Ok(ApplyOutcome::OutsideChange {
                observed: current.split,
            });
        }

        let mut attempt = 0;
        loop {
            self.check_deployments(endpoint, &desired).await?;
            attempt += 1;
            let body = put_body(&current.raw, &desired);
            tracing::info!(
                endpoint = %endpoint, from = %current.split, to = %desired, attempt,
                "changing traffic"
            );
            let failure = match self.arm.put_endpoint(endpoint, &body).await {
                Ok(LroOutcome::Succeeded) => {
                    let after = self.read_settled(endpoint).await?;
                    return if after.split == desired {
                        tracing::info!(endpoint = %endpoint, split = %after.split, attempt, "traffic changed and verified");
                        Ok(ApplyOutcome::Applied {
                            observed: after.split,
                        })
                    } else {
                        tracing::error!(
                            endpoint = %endpoint, to = %desired, observed = %after.split,
                            "operation succeeded but the endpoint reports another split"
                        );
                        Err(ControllerError::VerifyMismatch {
                            observed: after.split,
                        })
                    };
                }
                Ok(LroOutcome::Failed { code, message }) => (code, message),
                Ok(LroOutcome::Canceled) => (
                    "Canceled".to_string(),
                    "the operation was canceled".to_string(),
                ),
                Ok(LroOutcome::TimedOut) => (
                    "OperationTimedOut".to_string(),
                    "the operation did not finish in time".to_string(),
                ),
                // Another operation is running on the endpoint: wait for it like a failed try.
                Err(AzureError::Status {
                    status: 409,
                    code,
                    message,
                }) => (code, message),
                Err(e) => {
                    tracing::warn!(endpoint = %endpoint, to = %desired, attempt, error = %e, "traffic change not accepted");
                    return Err(e.into());
                }
            };
            let (code, message) = failure;
            tracing::warn!(
                endpoint = %endpoint, to = %desired, attempt, code = %code, message = %message,
                "traffic change operation did not succeed; re-reading the endpoint"
            );
            // The truth is what the endpoint reports now, not what the operation said.
            current = self.read_settled(endpoint).await?;
            if current.split == desired {
                tracing::info!(endpoint = %endpoint, split = %current.split, attempt, "traffic change landed despite the operation's report");
                return Ok(ApplyOutcome::Applied {
                    observed: current.split,
                });
            }
            if current.split != expected {
                tracing::warn!(
                    endpoint = %endpoint, expected = %expected, observed = %current.split,
                    "traffic was changed outside the daemon while we were changing it; stopping"
                );
                return Ok(ApplyOutcome::OutsideChange {
                    observed: current.split,
                });
            }
            if attempt >= self.options.lro_attempts.max(1) {
                tracing::error!(
                    endpoint = %endpoint, to = %desired, attempts = attempt, code = %code,
                    "giving up on the traffic change; endpoint verified unchanged"
                );
                return Err(ControllerError::OperationFailed {
                    code,
                    message,
                    attempts: attempt,
                });
            }
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        crate::azure::RetryPolicy {
            max_attempts: self.options.lro_attempts,
            base_delay: self.options.retry_backoff,
            max_delay: Duration::from_secs(60),
        }
        .backoff(attempt)
    }

    /// Reads the endpoint, waiting (bounded) while an operation is running on it: its maps
    /// still show the old split then, and a PUT would be refused with 409.
    async fn read_settled(
        &self,
        endpoint: &EndpointRef,
    ) -> Result<EndpointResource, ControllerError> {
        let started = tokio::time::Instant::now();
        loop {
            let resource = self.arm.get_endpoint(endpoint).await?;
            if !is_busy(&resource.provisioning_state) {
                return Ok(resource);
            }
            let waited = started.elapsed();
            if waited >= self.options.busy_timeout {
                return Err(ControllerError::EndpointBusy {
                    state: resource.provisioning_state,
                    waited,
                });
            }
            tracing::info!(
                endpoint = %endpoint, state = %resource.provisioning_state,
                "an operation is running on the endpoint; waiting for it"
            );
            tokio::time::sleep(self.options.busy_poll).await;
        }
    }

    /// Every deployment the split routes traffic to exists and is `Succeeded`.
    async fn check_deployments(
        &self,
        endpoint: &EndpointRef,
        desired: &Split,
    ) -> Result<(), ControllerError> {
        let deployments = self.arm.list_deployments(endpoint).await?;
        for name in desired.traffic.keys().chain(desired.mirror.keys()) {
            let found = deployments
                .iter()
                .find(|d| d.name.eq_ignore_ascii_case(name));
            match found {
                Some(d) if d.is_succeeded() => {}
                other => {
                    let error = ControllerError::DeploymentNotReady {
                        deployment: name.clone(),
                        state: other.map(|d| d.provisioning_state.clone()),
                    };
                    tracing::warn!(endpoint = %endpoint, to = %desired, error = %error, "split not sent");
                    return Err(error);
                }
            }
        }
        Ok(())
    }
}

fn is_busy(provisioning_state: &str) -> bool {
    ["Updating", "Creating", "Deleting"]
        .iter()
        .any(|s| provisioning_state.eq_ignore_ascii_case(s))
}

/// The PUT body: the endpoint as GET returned it, with the read-only fields the SDK never
/// sends removed and both maps replaced. The maps name only deployments with a non-zero
/// share (as Azure reports them): a PUT replaces the resource, so a deployment left out gets
/// 0%, and not naming zero-share deployments keeps a PUT valid if one was deleted meanwhile.
pub fn put_body(raw: &Value, desired: &Split) -> Value {
    let mut body = raw.clone();
    if let Some(resource) = body.as_object_mut() {
        for read_only in ["id", "type", "systemData"] {
            resource.remove(read_only);
        }
        if let Some(identity) = resource.get_mut("identity").and_then(Value::as_object_mut) {
            identity.remove("principalId");
            identity.remove("tenantId");
        }
        let properties = resource
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if !properties.is_object() {
            *properties = Value::Object(Map::new());
        }
        if let Some(properties) = properties.as_object_mut() {
            for read_only in ["provisioningState", "scoringUri", "swaggerUri"] {
                properties.remove(read_only);
            }
            properties.insert("traffic".into(), map_json(&desired.traffic));
            properties.insert("mirrorTraffic".into(), map_json(&desired.mirror));
        }
    }
    body
}

fn map_json(map: &TrafficMap) -> Value {
    Value::Object(
        map.iter()
            .filter(|(_, pct)| **pct > 0)
            .map(|(name, pct)| (name.clone(), Value::from(*pct)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn put_body_edits_maps_and_drops_read_only_fields() {
        let raw = json!({
            "id": "/subscriptions/s/…", "name": "my-ep", "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
            "location": "eastus", "kind": "Managed", "tags": {"team": "ml"},
            "identity": {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"},
            "properties": {"authMode": "Key", "description": null, "scoringUri": "https://x/score",
                "traffic": {"blue": 100}, "mirrorTraffic": {}, "provisioningState": "Succeeded",
                "publicNetworkAccess": "Enabled"},
            "systemData": {"lastModifiedAt": "2026-01-01T00:00:00Z"}
        });
        let desired = Split::new(
            TrafficMap::from([("blue".into(), 90), ("green".into(), 10), ("red".into(), 0)]),
            TrafficMap::new(),
        );
        let body = put_body(&raw, &desired);
        assert_eq!(
            body["properties"]["traffic"],
            json!({"blue": 90, "green": 10})
        );
        assert_eq!(body["properties"]["mirrorTraffic"], json!({}));
        assert_eq!(body["properties"]["publicNetworkAccess"], "Enabled");
        assert_eq!(body["tags"], json!({"team": "ml"}));
        assert_eq!(body["identity"], json!({"type": "SystemAssigned"}));
        for gone in ["id", "type", "systemData"] {
            assert!(body.get(gone).is_none(), "{gone}");
        }
        assert!(body["properties"].get("provisioningState").is_none());
        assert!(body["properties"].get("scoringUri").is_none());
    }
}
