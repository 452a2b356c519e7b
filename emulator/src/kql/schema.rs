//! The emulated table `AmlOnlineEndpointTrafficLog`: its columns, their Kusto types, and how
//! each is read from a compact [`RequestRow`] and its endpoint's [`EndpointLogContext`].

use std::sync::{Arc, OnceLock};

use super::value::{TICKS_PER_US, Type, Value};
use crate::logstore::LogSnapshot;
use crate::model::RequestRow;

pub const TABLE_NAME: &str = "AmlOnlineEndpointTrafficLog";

/// Sibling tables Azure has but the emulator does not fill: a query naming them gets an
/// explicit error instead of an empty (plausible but wrong) result.
pub const UNEMULATED_TABLES: &[&str] =
    &["AmlOnlineEndpointConsoleLog", "AmlOnlineEndpointEventLog"];

pub const OPERATION_NAME: &str =
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/score";
pub const USER_AGENT: &str = "python-requests/2.32.3";

macro_rules! columns {
    ($($variant:ident => $name:literal : $ty:ident),* $(,)?) => {
        /// A column of the source table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Column { $($variant),* }

        impl Column {
            pub const ALL: &'static [Column] = &[$(Column::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Column::$variant => $name),* }
            }

            pub fn ty(self) -> Type {
                match self { $(Column::$variant => Type::$ty),* }
            }
        }
    };
}

// Order as the Azure Monitor reference lists the table, TimeGenerated first.
columns! {
    TimeGenerated => "TimeGenerated": DateTime,
    EndpointName => "EndpointName": String,
    DeploymentName => "DeploymentName": String,
    ResponseCode => "ResponseCode": Int,
    ResponseCodeReason => "ResponseCodeReason": String,
    ModelStatusCode => "ModelStatusCode": Int,
    ModelStatusReason => "ModelStatusReason": String,
    TotalDurationMs => "TotalDurationMs": Int,
    RequestDurationMs => "RequestDurationMs": Int,
    ResponseDurationMs => "ResponseDurationMs": Int,
    RequestThrottlingDelayMs => "RequestThrottlingDelayMs": Int,
    ResponseThrottlingDelayMs => "ResponseThrottlingDelayMs": Int,
    RequestPayloadSize => "RequestPayloadSize": Int,
    ResponsePayloadSize => "ResponsePayloadSize": Int,
    Method => "Method": String,
    Path => "Path": String,
    Protocol => "Protocol": String,
    UserAgent => "UserAgent": String,
    AuthType => "AuthType": String,
    XRequestId => "XRequestId": String,
    XMSClientRequestId => "XMSClientRequestId": String,
    AzureMLWorkspaceId => "AzureMLWorkspaceId": String,
    AzureMLWorkspaceName => "AzureMLWorkspaceName": String,
    Location => "Location": String,
    OperationName => "OperationName": String,
    ResourceId => "_ResourceId": String,
    TenantId => "TenantId": String,
    Type => "Type": String,
}

impl Column {
    pub fn by_name(name: &str) -> Option<Column> {
        Column::ALL.iter().copied().find(|c| c.name() == name)
    }
}

/// The HTTP reason phrase for a status code, as the gateway reports it.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        424 => "Failed Dependency",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Reason phrases as shared strings, built once: a query that reads them allocates nothing.
fn reason_strings() -> &'static [Arc<str>] {
    static TABLE: OnceLock<Vec<Arc<str>>> = OnceLock::new();
    TABLE.get_or_init(|| (0..600u16).map(|c| Arc::from(reason_phrase(c))).collect())
}

fn reason_string(code: u16) -> Arc<str> {
    match reason_strings().get(usize::from(code)) {
        Some(s) => s.clone(),
        None => Arc::from(reason_phrase(code)),
    }
}

/// A GUID-shaped id that is a pure function of `(salt, n)`, so a request's ids are stable
/// across queries.
pub fn derived_guid(salt: u64, n: u64) -> String {
    let hi = splitmix64(n ^ salt);
    let lo = splitmix64(hi ^ n.rotate_left(32));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (hi >> 32) as u32,
        (hi >> 16) as u16,
        (hi & 0x0fff) as u16,
        ((lo >> 48) as u16 & 0x3fff) | 0x8000,
        lo & 0xffff_ffff_ffff
    )
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const X_REQUEST_ID_SALT: u64 = 0x5852_6571_4964_0001;
const CLIENT_REQUEST_ID_SALT: u64 = 0x434c_5265_7149_6402;

/// The per-endpoint strings, prebuilt as values so reading them per row does not allocate and
/// comparisons can borrow them.
struct EndpointStrings {
    endpoint_name: Value,
    workspace_id: Value,
    workspace_name: Value,
    location: Value,
    resource_id: Value,
    tenant_id: Value,
}

/// Resolves source columns of rows from one snapshot.
pub struct SourceReader {
    deployments: Vec<Value>,
    endpoints: Vec<EndpointStrings>,
    constants: Constants,
}

struct Constants {
    empty: Value,
    method: Value,
    path: Value,
    protocol: Value,
    user_agent: Value,
    auth_type: Value,
    operation_name: Value,
    table_type: Value,
}

impl SourceReader {
    pub fn new(snapshot: &LogSnapshot) -> Self {
        let endpoints = snapshot
            .endpoints
            .iter()
            .map(|ctx| EndpointStrings {
                endpoint_name: Value::str(&ctx.endpoint_name),
                workspace_id: Value::str(&ctx.workspace_id),
                workspace_name: Value::str(&ctx.workspace_name),
                location: Value::str(&ctx.location),
                resource_id: Value::str(&ctx.resource_id),
                tenant_id: Value::str(&ctx.tenant_id),
            })
            .collect();
        Self {
            deployments: snapshot
                .strings
                .iter()
                .map(|s| Value::Str(s.clone()))
                .collect(),
            endpoints,
            constants: Constants {
                empty: Value::str(""),
                method: Value::str("POST"),
                path: Value::str("/score"),
                protocol: Value::str("HTTP/1.1"),
                user_agent: Value::str(USER_AGENT),
                auth_type: Value::str("Key"),
                operation_name: Value::str(OPERATION_NAME),
                table_type: Value::str(TABLE_NAME),
            },
        }
    }

    fn endpoint_str(&self, row: &RequestRow, pick: fn(&EndpointStrings) -> &Value) -> &Value {
        match self.endpoints.get(row.endpoint as usize) {
            Some(e) => pick(e),
            None => &self.constants.empty,
        }
    }

    /// The integer columns without building a [`Value`], for the scan's fast paths.
    pub fn int_column(&self, row: &RequestRow, column: Column) -> Option<i32> {
        let v = match column {
            Column::ResponseCode => u32::from(row.response_code),
            Column::ModelStatusCode => u32::from(row.model_status_code),
            Column::TotalDurationMs => row.total_duration_ms,
            Column::RequestDurationMs => row.request_duration_ms,
            Column::ResponseDurationMs => row.response_duration_ms,
            Column::RequestThrottlingDelayMs => row.request_throttling_delay_ms,
            Column::ResponseThrottlingDelayMs => row.response_throttling_delay_ms,
            Column::RequestPayloadSize => row.request_payload_size,
            Column::ResponsePayloadSize => row.response_payload_size,
            _ => return None,
        };
        // A u32 above i32::MAX cannot be an int in Kusto; saturate rather than wrap.
        Some(i32::try_from(v).unwrap_or(i32::MAX))
    }

    /// A stored string column, borrowed: comparisons read it without touching reference counts.
    /// `None` for columns computed per row.
    pub fn value_ref(&self, row: &RequestRow, column: Column) -> Option<&Value> {
        let c = &self.constants;
        Some(match column {
            Column::EndpointName => self.endpoint_str(row, |e| &e.endpoint_name),
            Column::DeploymentName => self
                .deployments
                .get(row.deployment as usize)
                .unwrap_or(&c.empty),
            Column::Method => &c.method,
            Column::Path => &c.path,
            Column::Protocol => &c.protocol,
            Column::UserAgent => &c.user_agent,
            Column::AuthType => &c.auth_type,
            Column::AzureMLWorkspaceId => self.endpoint_str(row, |e| &e.workspace_id),
            Column::AzureMLWorkspaceName => self.endpoint_str(row, |e| &e.workspace_name),
            Column::Location => self.endpoint_str(row, |e| &e.location),
            Column::OperationName => &c.operation_name,
            Column::ResourceId => self.endpoint_str(row, |e| &e.resource_id),
            Column::TenantId => self.endpoint_str(row, |e| &e.tenant_id),
            Column::Type => &c.table_type,
            _ => return None,
        })
    }

    pub fn value(&self, row: &RequestRow, column: Column) -> Value {
        if let Some(v) = self.value_ref(row, column) {
            return v.clone();
        }
        match column {
            Column::TimeGenerated => Value::DateTime(row.time_us.saturating_mul(TICKS_PER_US)),
            Column::ResponseCodeReason => Value::Str(reason_string(row.response_code)),
            Column::ModelStatusReason => Value::Str(reason_string(row.model_status_code)),
            Column::XRequestId => Value::str(&derived_guid(X_REQUEST_ID_SALT, row.seq)),
            Column::XMSClientRequestId => Value::str(&derived_guid(
                CLIENT_REQUEST_ID_SALT,
                row.mirror_of.unwrap_or(row.seq),
            )),
            other => match self.int_column(row, other) {
                Some(v) => Value::Int(v),
                None => Value::Null,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_resolves_by_its_kusto_name() {
        for c in Column::ALL {
            assert_eq!(Column::by_name(c.name()), Some(*c));
        }
        assert_eq!(Column::by_name("_ResourceId"), Some(Column::ResourceId));
        assert_eq!(
            Column::by_name("responsecode"),
            None,
            "names are case-sensitive"
        );
    }

    #[test]
    fn derived_ids_are_stable_guid_shaped_and_distinct() {
        let a = derived_guid(X_REQUEST_ID_SALT, 7);
        assert_eq!(a, derived_guid(X_REQUEST_ID_SALT, 7));
        assert_ne!(a, derived_guid(X_REQUEST_ID_SALT, 8));
        assert_ne!(a, derived_guid(CLIENT_REQUEST_ID_SALT, 7));
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, vec![8, 4, 4, 4, 12]);
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
