//! The emulated Azure world: online endpoints and their deployments as ARM holds them, the
//! history of every traffic change, and the shape of one request-log row.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// ARM resource names are case-insensitive; the emulator keys everything on the lower-case form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EndpointKey {
    pub subscription: String,
    pub resource_group: String,
    pub workspace: String,
    pub endpoint: String,
}

impl EndpointKey {
    pub fn new(subscription: &str, resource_group: &str, workspace: &str, endpoint: &str) -> Self {
        Self {
            subscription: subscription.to_ascii_lowercase(),
            resource_group: resource_group.to_ascii_lowercase(),
            workspace: workspace.to_ascii_lowercase(),
            endpoint: endpoint.to_ascii_lowercase(),
        }
    }
}

/// A traffic or mirror map: deployment name (lower case, as the SDK sends it) → percent.
pub type TrafficMap = BTreeMap<String, u32>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProvisioningState {
    Creating,
    Deleting,
    Scaling,
    Updating,
    Succeeded,
    Failed,
    Canceled,
}

impl ProvisioningState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "Creating",
            Self::Deleting => "Deleting",
            Self::Scaling => "Scaling",
            Self::Updating => "Updating",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Canceled => "Canceled",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployment {
    /// As created (case preserved); lookups compare case-insensitively.
    pub name: String,
    pub provisioning_state: ProvisioningState,
    pub capacity: u32,
    pub instance_type: String,
    /// ARM id of the model version the deployment serves.
    pub model: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub key: EndpointKey,
    /// As created (case preserved).
    pub name: String,
    pub location: String,
    pub auth_mode: String,
    pub description: Option<String>,
    pub tags: serde_json::Map<String, serde_json::Value>,
    pub provisioning_state: ProvisioningState,
    pub traffic: TrafficMap,
    pub mirror_traffic: TrafficMap,
    pub deployments: BTreeMap<String, Deployment>,
    pub principal_id: String,
    pub tenant_id: String,
    pub last_modified_at: OffsetDateTime,
    pub last_modified_by: String,
}

impl Endpoint {
    pub fn deployment(&self, name: &str) -> Option<&Deployment> {
        self.deployments.get(&name.to_ascii_lowercase())
    }

    /// The ARM id with the casing the resource was created with.
    pub fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.MachineLearningServices/workspaces/{}/onlineEndpoints/{}",
            self.key.subscription, self.key.resource_group, self.key.workspace, self.name
        )
    }
}

/// Who changed a split: the daemon through ARM, or someone behind its back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// A PUT through the ARM API (the daemon, or any ARM client).
    Arm,
    /// The scenario's initial state.
    Scenario,
    /// A fault: an outside actor (a person in the portal) changed traffic.
    Outside,
}

/// One applied change of an endpoint's split, as kept in the traffic history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrafficChange {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub endpoint: String,
    pub old_traffic: TrafficMap,
    pub new_traffic: TrafficMap,
    pub old_mirror_traffic: TrafficMap,
    pub new_mirror_traffic: TrafficMap,
    pub actor: Actor,
    /// The long-running operation that applied it, for ARM changes.
    pub operation_id: Option<String>,
}

/// One row of `AmlOnlineEndpointTrafficLog`, stored compactly: strings that repeat on every
/// row of an endpoint (workspace, location, resource id…) live once in the log store's
/// endpoint table and are expanded when a query reads them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestRow {
    /// TimeGenerated, unix time in microseconds (simulated clock).
    pub time_us: i64,
    /// Sequence number, unique per emulator; XRequestId and XMSClientRequestId derive from it.
    pub seq: u64,
    /// For a mirrored copy, the seq of the live request it copies (its XMSClientRequestId).
    pub mirror_of: Option<u64>,
    /// Index into the log store's endpoint table.
    pub endpoint: u32,
    /// Index into the log store's string table (the serving deployment's name).
    pub deployment: u32,
    pub response_code: u16,
    pub model_status_code: u16,
    pub total_duration_ms: u32,
    pub request_duration_ms: u32,
    pub response_duration_ms: u32,
    pub request_throttling_delay_ms: u32,
    pub response_throttling_delay_ms: u32,
    pub request_payload_size: u32,
    pub response_payload_size: u32,
}

/// The per-endpoint strings every row of that endpoint carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointLogContext {
    /// The Log Analytics workspace (GUID) the endpoint's diagnostic settings send logs to;
    /// a query sees only the rows of its own workspace.
    pub log_analytics_workspace_id: String,
    pub endpoint_name: String,
    pub workspace_id: String,
    pub workspace_name: String,
    pub location: String,
    pub resource_id: String,
    pub tenant_id: String,
}
