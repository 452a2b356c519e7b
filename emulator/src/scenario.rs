//! Scenario files (YAML): the endpoints and deployments the emulated Azure starts with, how
//! each deployment behaves (latency, errors, throttling), the request rate, and changes and
//! faults at given simulated offsets. The format is documented in `emulator/docs/scenario.md`.
//!
//! Every value is checked while parsing, so an error names the file, the line and column of
//! the offending value, and the fix.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use crate::faults::Fault;
use crate::model::{
    Actor, Deployment, Endpoint, EndpointKey, EndpointLogContext, ProvisioningState, TrafficMap,
};
use crate::state::{EmulatorState, Settings};

/// The Log Analytics workspace every endpoint logs to unless the scenario names another.
pub const DEFAULT_LOG_ANALYTICS_WORKSPACE_ID: &str = "5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11";
/// The Entra tenant of every emulated resource unless the scenario names another.
pub const DEFAULT_TENANT_ID: &str = "0d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a";
/// The subscription of an endpoint that names none.
pub const DEFAULT_SUBSCRIPTION: &str = "00000000-0000-4000-8000-000000000001";

/// The latest `at_s` a change or fault may have (ten years), so time arithmetic cannot overflow.
pub const MAX_OFFSET_S: f64 = 315_360_000.0;

const DOCS_HINT: &str = "see emulator/docs/scenario.md";

/// A parsed and validated scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Seeds the traffic generator: the same seed gives the same rows.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub settings: Settings,
    /// The Log Analytics workspace (GUID) endpoints send their logs to.
    #[serde(default = "default_log_analytics_workspace_id")]
    pub log_analytics_workspace_id: Guid,
    #[serde(default = "default_tenant_id")]
    pub tenant_id: Guid,
    #[serde(default)]
    pub endpoints: Vec<EndpointSpec>,
    /// Behaviour changes at simulated offsets from the start.
    #[serde(default)]
    pub changes: Vec<Change>,
    /// Faults injected at simulated offsets from the start.
    #[serde(default)]
    pub faults: Vec<ScheduledFault>,
}

/// A GUID in its canonical 8-4-4-4-12 hex form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Guid(String);

impl<'de> Deserialize<'de> for Guid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct GuidVisitor;
        impl serde::de::Visitor<'_> for GuidVisitor {
            type Value = Guid;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a GUID")
            }
            // Checking inside the visitor makes the parser report the value's own position.
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Guid, E> {
                Guid::try_from(v.to_string()).map_err(E::custom)
            }
        }
        d.deserialize_str(GuidVisitor)
    }
}

impl Guid {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A GUID derived from names, so every run of a scenario shows the same ids.
    pub fn derived(parts: &[&str]) -> Self {
        let mut hi = 0xcbf2_9ce4_8422_2325_u64;
        let mut lo = 0x8422_2325_cbf2_9ce4_u64;
        for part in parts {
            for byte in part.bytes().chain(std::iter::once(0xff)) {
                hi = (hi ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
                lo = (lo ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        let (hi, lo) = (splitmix64(hi), splitmix64(lo ^ hi));
        Self(format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0x0fff,
            0x8000 | ((lo >> 48) & 0x3fff),
            lo & 0xffff_ffff_ffff
        ))
    }
}

impl TryFrom<String> for Guid {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let groups: Vec<&str> = s.split('-').collect();
        let lengths = [8, 4, 4, 4, 12];
        let ok = groups.len() == 5
            && groups
                .iter()
                .zip(lengths)
                .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
        if ok {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(format!(
                "'{s}' is not a GUID; fix: write it as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits)"
            ))
        }
    }
}

impl From<Guid> for String {
    fn from(g: Guid) -> String {
        g.0
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn default_log_analytics_workspace_id() -> Guid {
    Guid(DEFAULT_LOG_ANALYTICS_WORKSPACE_ID.into())
}

fn default_tenant_id() -> Guid {
    Guid(DEFAULT_TENANT_ID.into())
}

pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

macro_rules! checked_f64 {
    ($(#[$doc:meta])* $name:ident, $check:expr, $rule:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
        #[serde(into = "f64")]
        pub struct $name(f64);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct NumberVisitor;
                impl serde::de::Visitor<'_> for NumberVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a number: ", $rule))
                    }
                    // Checking inside the visitor makes the parser report the value's own
                    // position rather than its enclosing mapping's.
                    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<$name, E> {
                        $name::new(v).map_err(E::custom)
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<$name, E> {
                        $name::new(v as f64).map_err(E::custom)
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<$name, E> {
                        $name::new(v as f64).map_err(E::custom)
                    }
                }
                d.deserialize_f64(NumberVisitor)
            }
        }

        impl $name {
            /// Checks `value` against the rule of this type.
            pub fn new(value: f64) -> Result<Self, String> {
                let check: fn(f64) -> bool = $check;
                if value.is_finite() && check(value) {
                    Ok(Self(value))
                } else {
                    Err(format!(concat!("{} is out of range; fix: use ", $rule), value))
                }
            }

            pub fn get(self) -> f64 {
                self.0
            }
        }

        impl TryFrom<f64> for $name {
            type Error = String;
            fn try_from(value: f64) -> Result<Self, String> {
                Self::new(value)
            }
        }

        impl From<$name> for f64 {
            fn from(v: $name) -> f64 {
                v.0
            }
        }
    };
}

checked_f64!(
    /// A number > 0.
    Positive,
    |v| v > 0.0,
    "a number greater than 0"
);
checked_f64!(
    /// A number ≥ 0.
    NonNegative,
    |v| v >= 0.0,
    "a number of 0 or more"
);
checked_f64!(
    /// A probability in [0, 1].
    Probability,
    |v| (0.0..=1.0).contains(&v),
    "a probability between 0 and 1 (0.01 is 1%)"
);

/// How callers authenticate to the scoring URI (`properties.authMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AuthMode {
    #[serde(rename = "AMLToken")]
    AmlToken,
    #[default]
    Key,
    #[serde(rename = "AADToken")]
    AadToken,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AmlToken => "AMLToken",
            Self::Key => "Key",
            Self::AadToken => "AADToken",
        }
    }
}

/// One online endpoint with its deployments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawEndpoint", into = "RawEndpoint")]
pub struct EndpointSpec {
    pub name: String,
    pub subscription: Guid,
    pub resource_group: String,
    pub workspace: String,
    /// AzureMLWorkspaceId; derived from the workspace's name when absent.
    pub workspace_id: Guid,
    /// Overrides the scenario's `log_analytics_workspace_id` for this endpoint.
    pub log_analytics_workspace_id: Option<Guid>,
    pub location: String,
    pub auth_mode: AuthMode,
    /// Deployment name (lower case) → percent.
    pub traffic: TrafficMap,
    pub mirror_traffic: TrafficMap,
    pub rate: RequestRate,
    pub deployments: Vec<DeploymentSpec>,
}

impl EndpointSpec {
    pub fn deployment(&self, name: &str) -> Option<&DeploymentSpec> {
        self.deployments
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }

    pub fn key(&self) -> EndpointKey {
        EndpointKey::new(
            self.subscription.as_str(),
            &self.resource_group,
            &self.workspace,
            &self.name,
        )
    }

    fn validate(&self) -> Result<(), String> {
        check_endpoint_name(&self.name)?;
        check_resource_name("resource_group", &self.resource_group)?;
        check_resource_name("workspace", &self.workspace)?;
        let mut seen = BTreeSet::new();
        for d in &self.deployments {
            check_endpoint_name(&d.name).map_err(|e| format!("deployment {e}"))?;
            if !seen.insert(d.name.to_ascii_lowercase()) {
                return Err(format!(
                    "endpoint '{}' has two deployments named '{}'; fix: give each deployment its own name",
                    self.name, d.name
                ));
            }
        }
        check_split(self, &self.traffic, &self.mirror_traffic)?;
        if let RequestRate::Bursty {
            every_s,
            duration_s,
            ..
        } = &self.rate
            && duration_s.get() > every_s.get()
        {
            return Err(format!(
                "bursty duration_s {} is longer than every_s {}; fix: make duration_s at most every_s",
                duration_s.get(),
                every_s.get()
            ));
        }
        Ok(())
    }
}

/// Azure's rule for endpoint and deployment names.
fn check_endpoint_name(name: &str) -> Result<(), String> {
    let ok = (3..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "name '{name}' is not valid; fix: use 3-32 letters, digits or '-', starting with a letter and not ending with '-'"
        ))
    }
}

fn check_resource_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 90
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} '{name}' is not valid; fix: use 1-90 letters, digits, '-', '_', '.', '(' or ')'"
        ))
    }
}

/// The ARM rules for a split (see docs/azure-apis.md §1).
fn check_split(ep: &EndpointSpec, traffic: &TrafficMap, mirror: &TrafficMap) -> Result<(), String> {
    for (map_name, map) in [("traffic", traffic), ("mirror_traffic", mirror)] {
        for (name, percent) in map {
            let Some(dep) = ep.deployment(name) else {
                let known: Vec<&str> = ep.deployments.iter().map(|d| d.name.as_str()).collect();
                return Err(format!(
                    "{map_name} names deployment '{name}', which endpoint '{}' does not have; fix: use one of [{}]",
                    ep.name,
                    known.join(", ")
                ));
            };
            if *percent > 100 {
                return Err(format!(
                    "{map_name} gives '{name}' {percent}%; fix: use a percentage from 0 to 100"
                ));
            }
            if *percent > 0 && dep.provisioning_state != ProvisioningState::Succeeded {
                return Err(format!(
                    "{map_name} sends traffic to '{name}', whose provisioning_state is {}; fix: only Succeeded deployments may take traffic",
                    dep.provisioning_state.as_str()
                ));
            }
        }
    }
    let total: u32 = traffic.values().sum();
    if total != 100 && total != 0 {
        return Err(format!(
            "traffic sums to {total}%; fix: make the percentages add up to 100 (or leave traffic empty)"
        ));
    }
    let mirror_total: u32 = mirror.values().sum();
    if mirror_total > 50 {
        return Err(format!(
            "mirror_traffic sums to {mirror_total}%; fix: mirror at most 50%"
        ));
    }
    for (name, percent) in mirror {
        if *percent > 0 && traffic.get(name).is_some_and(|p| *p > 0) {
            return Err(format!(
                "deployment '{name}' takes both live and mirrored traffic; fix: give it one or the other"
            ));
        }
    }
    let mirror_targets = mirror.values().filter(|p| **p > 0).count();
    if mirror_targets > 1 {
        return Err(
            "mirror_traffic targets more than one deployment; fix: mirror to a single deployment"
                .into(),
        );
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    name: String,
    #[serde(default = "default_subscription")]
    subscription: Guid,
    #[serde(default = "default_resource_group")]
    resource_group: String,
    #[serde(default = "default_workspace")]
    workspace: String,
    #[serde(default)]
    workspace_id: Option<Guid>,
    #[serde(default)]
    log_analytics_workspace_id: Option<Guid>,
    #[serde(default = "default_location")]
    location: String,
    #[serde(default)]
    auth_mode: AuthMode,
    #[serde(default)]
    traffic: BTreeMap<String, u32>,
    #[serde(default)]
    mirror_traffic: BTreeMap<String, u32>,
    rate: RequestRate,
    deployments: Vec<DeploymentSpec>,
}

fn default_subscription() -> Guid {
    Guid(DEFAULT_SUBSCRIPTION.into())
}
fn default_resource_group() -> String {
    "canary-rg".into()
}
fn default_workspace() -> String {
    "canary-ws".into()
}
fn default_location() -> String {
    "eastus".into()
}

/// The SDK lower-cases split keys; the emulator stores them that way too.
fn lower_keys(map: BTreeMap<String, u32>) -> TrafficMap {
    map.into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

impl TryFrom<RawEndpoint> for EndpointSpec {
    type Error = String;
    fn try_from(raw: RawEndpoint) -> Result<Self, String> {
        let workspace_id = raw.workspace_id.unwrap_or_else(|| {
            Guid::derived(&[
                "aml-workspace",
                raw.subscription.as_str(),
                &raw.resource_group,
                &raw.workspace,
            ])
        });
        let spec = Self {
            name: raw.name,
            subscription: raw.subscription,
            resource_group: raw.resource_group,
            workspace: raw.workspace,
            workspace_id,
            log_analytics_workspace_id: raw.log_analytics_workspace_id,
            location: raw.location,
            auth_mode: raw.auth_mode,
            traffic: lower_keys(raw.traffic),
            mirror_traffic: lower_keys(raw.mirror_traffic),
            rate: raw.rate,
            deployments: raw.deployments,
        };
        spec.validate()
            .map_err(|e| format!("endpoint '{}': {e}", spec.name))?;
        Ok(spec)
    }
}

impl From<EndpointSpec> for RawEndpoint {
    fn from(s: EndpointSpec) -> Self {
        Self {
            name: s.name,
            subscription: s.subscription,
            resource_group: s.resource_group,
            workspace: s.workspace,
            workspace_id: Some(s.workspace_id),
            log_analytics_workspace_id: s.log_analytics_workspace_id,
            location: s.location,
            auth_mode: s.auth_mode,
            traffic: s.traffic,
            mirror_traffic: s.mirror_traffic,
            rate: s.rate,
            deployments: s.deployments,
        }
    }
}

/// Requests per simulated second arriving at an endpoint (Poisson arrivals at this rate).
/// Written as a one-key map, e.g. `rate: {steady: {rps: 20}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRate", into = "RawRate")]
pub enum RequestRate {
    Steady {
        rps: NonNegative,
    },
    /// `mean_rps · (1 + amplitude · sin(2π t / period_s))`, t from the scenario's start.
    Diurnal {
        mean_rps: NonNegative,
        amplitude: Probability,
        period_s: Positive,
    },
    /// `burst_rps` for `duration_s` at the start of every `every_s`, `base_rps` otherwise.
    Bursty {
        base_rps: NonNegative,
        burst_rps: NonNegative,
        every_s: Positive,
        duration_s: NonNegative,
    },
}

/// serde_yaml_ng wants `!tag` syntax for enums; a one-key map reads more naturally.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    steady: Option<SteadyRate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    diurnal: Option<DiurnalRate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bursty: Option<BurstyRate>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SteadyRate {
    rps: NonNegative,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiurnalRate {
    mean_rps: NonNegative,
    amplitude: Probability,
    period_s: Positive,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BurstyRate {
    base_rps: NonNegative,
    burst_rps: NonNegative,
    every_s: Positive,
    duration_s: NonNegative,
}

impl TryFrom<RawRate> for RequestRate {
    type Error = String;
    fn try_from(raw: RawRate) -> Result<Self, String> {
        match (raw.steady, raw.diurnal, raw.bursty) {
            (Some(s), None, None) => Ok(Self::Steady { rps: s.rps }),
            (None, Some(d), None) => Ok(Self::Diurnal {
                mean_rps: d.mean_rps,
                amplitude: d.amplitude,
                period_s: d.period_s,
            }),
            (None, None, Some(b)) if b.duration_s.get() > b.every_s.get() => Err(format!(
                "bursty duration_s {} is longer than every_s {}; fix: make duration_s at most every_s",
                b.duration_s.get(),
                b.every_s.get()
            )),
            (None, None, Some(b)) => Ok(Self::Bursty {
                base_rps: b.base_rps,
                burst_rps: b.burst_rps,
                every_s: b.every_s,
                duration_s: b.duration_s,
            }),
            _ => Err(
                "a rate needs exactly one of steady, diurnal or bursty; fix: e.g. `rate: {steady: {rps: 20}}`"
                    .into(),
            ),
        }
    }
}

impl From<RequestRate> for RawRate {
    fn from(rate: RequestRate) -> Self {
        match rate {
            RequestRate::Steady { rps } => Self {
                steady: Some(SteadyRate { rps }),
                ..Self::default()
            },
            RequestRate::Diurnal {
                mean_rps,
                amplitude,
                period_s,
            } => Self {
                diurnal: Some(DiurnalRate {
                    mean_rps,
                    amplitude,
                    period_s,
                }),
                ..Self::default()
            },
            RequestRate::Bursty {
                base_rps,
                burst_rps,
                every_s,
                duration_s,
            } => Self {
                bursty: Some(BurstyRate {
                    base_rps,
                    burst_rps,
                    every_s,
                    duration_s,
                }),
                ..Self::default()
            },
        }
    }
}

impl RequestRate {
    /// The rate at `t_s` simulated seconds after the start.
    pub fn rps_at(&self, t_s: f64) -> f64 {
        match self {
            Self::Steady { rps } => rps.get(),
            Self::Diurnal {
                mean_rps,
                amplitude,
                period_s,
            } => {
                let phase = std::f64::consts::TAU * t_s / period_s.get();
                (mean_rps.get() * (1.0 + amplitude.get() * phase.sin())).max(0.0)
            }
            Self::Bursty {
                base_rps,
                burst_rps,
                every_s,
                duration_s,
            } => {
                if t_s.rem_euclid(every_s.get()) < duration_s.get() {
                    burst_rps.get()
                } else {
                    base_rps.get()
                }
            }
        }
    }
}

/// One deployment of an endpoint and how it behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawDeployment", into = "RawDeployment")]
pub struct DeploymentSpec {
    pub name: String,
    pub provisioning_state: ProvisioningState,
    pub capacity: u32,
    pub instance_type: String,
    /// ARM id of the model version; a plausible one is made up when absent.
    pub model: Option<String>,
    pub behaviour: Behaviour,
}

/// What a deployment does with a request. Rates are per request and exclusive: a request is
/// throttled, or fails in the gateway/container (5xx), or fails in the model (424), or succeeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Behaviour {
    pub latency: Latency,
    /// Gateway or container failures: ResponseCode 500/502/503, ModelStatusCode 0.
    pub error_rate_5xx: Probability,
    /// The model answers 500: ModelStatusCode 500, ResponseCode 424 (Azure ML's "Model Error").
    pub model_error_rate: Probability,
    /// Requests rejected with 429 after `delay_ms` of RequestThrottlingDelayMs.
    pub throttle: Option<Throttle>,
    pub payload: Payload,
    /// Scales every latency sample; 1 unless a change sets it.
    pub latency_multiplier: Positive,
}

impl Behaviour {
    fn check_rates(&self) -> Result<(), String> {
        let throttle = self.throttle.as_ref().map_or(0.0, |t| t.rate.get());
        let sum = throttle + self.error_rate_5xx.get() + self.model_error_rate.get();
        if sum > 1.0 {
            return Err(format!(
                "throttle.rate + error_rate_5xx + model_error_rate = {sum}; fix: make them add up to at most 1"
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeployment {
    name: String,
    #[serde(default = "succeeded")]
    provisioning_state: ProvisioningState,
    #[serde(default = "one")]
    capacity: u32,
    #[serde(default = "default_instance_type")]
    instance_type: String,
    #[serde(default)]
    model: Option<String>,
    latency: Latency,
    #[serde(default = "zero_probability")]
    error_rate_5xx: Probability,
    #[serde(default = "zero_probability")]
    model_error_rate: Probability,
    #[serde(default)]
    throttle: Option<Throttle>,
    #[serde(default)]
    payload: Payload,
}

fn succeeded() -> ProvisioningState {
    ProvisioningState::Succeeded
}
fn one() -> u32 {
    1
}
fn default_instance_type() -> String {
    "Standard_DS3_v2".into()
}
fn zero_probability() -> Probability {
    Probability(0.0)
}

impl TryFrom<RawDeployment> for DeploymentSpec {
    type Error = String;
    fn try_from(raw: RawDeployment) -> Result<Self, String> {
        let spec = Self {
            name: raw.name,
            provisioning_state: raw.provisioning_state,
            capacity: raw.capacity,
            instance_type: raw.instance_type,
            model: raw.model,
            behaviour: Behaviour {
                latency: raw.latency,
                error_rate_5xx: raw.error_rate_5xx,
                model_error_rate: raw.model_error_rate,
                throttle: raw.throttle,
                payload: raw.payload,
                latency_multiplier: Positive(1.0),
            },
        };
        spec.behaviour
            .check_rates()
            .map_err(|e| format!("deployment '{}': {e}", spec.name))?;
        Ok(spec)
    }
}

impl From<DeploymentSpec> for RawDeployment {
    fn from(s: DeploymentSpec) -> Self {
        Self {
            name: s.name,
            provisioning_state: s.provisioning_state,
            capacity: s.capacity,
            instance_type: s.instance_type,
            model: s.model,
            latency: s.behaviour.latency,
            error_rate_5xx: s.behaviour.error_rate_5xx,
            model_error_rate: s.behaviour.model_error_rate,
            throttle: s.behaviour.throttle,
            payload: s.behaviour.payload,
        }
    }
}

/// TotalDurationMs of a successful request: log-normal with the given median and sigma
/// (of the underlying normal), optionally mixed with a second mode and a heavy tail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub median_ms: Positive,
    pub sigma: Positive,
    /// With `probability`, the sample is multiplied by `multiplier` (slow outliers).
    #[serde(default)]
    pub tail: Option<Tail>,
    /// With `probability`, the sample comes from this log-normal instead (e.g. cache misses).
    #[serde(default)]
    pub second_mode: Option<SecondMode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tail {
    pub probability: Probability,
    pub multiplier: Positive,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondMode {
    pub probability: Probability,
    pub median_ms: Positive,
    pub sigma: Positive,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    pub rate: Probability,
    #[serde(default)]
    pub delay_ms: u32,
}

/// Median payload sizes; each request draws its sizes log-normally around them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Payload {
    pub request_bytes: u32,
    pub response_bytes: u32,
}

impl Default for Payload {
    fn default() -> Self {
        Self {
            request_bytes: 2048,
            response_bytes: 512,
        }
    }
}

/// From `at_s` on, the named deployment (or, for `rate`, the endpoint) behaves differently.
/// Each field replaces the value in force; it does not compound with earlier changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub at_s: NonNegative,
    pub endpoint: String,
    #[serde(default)]
    pub deployment: Option<String>,
    /// Multiplies the deployment's configured latency (1.3 = 30% slower).
    #[serde(default)]
    pub latency_multiplier: Option<Positive>,
    /// Replaces the latency distribution.
    #[serde(default)]
    pub latency: Option<Latency>,
    #[serde(default)]
    pub error_rate_5xx: Option<Probability>,
    #[serde(default)]
    pub model_error_rate: Option<Probability>,
    #[serde(default)]
    pub throttle: Option<Throttle>,
    /// The endpoint's new request rate (needs no `deployment`).
    #[serde(default)]
    pub rate: Option<RequestRate>,
}

impl Change {
    fn touches_deployment(&self) -> bool {
        self.latency_multiplier.is_some()
            || self.latency.is_some()
            || self.error_rate_5xx.is_some()
            || self.model_error_rate.is_some()
            || self.throttle.is_some()
    }

    /// Applies the deployment fields of this change to `behaviour`.
    pub fn apply_to(&self, behaviour: &mut Behaviour) {
        if let Some(m) = self.latency_multiplier {
            behaviour.latency_multiplier = m;
        }
        if let Some(l) = &self.latency {
            behaviour.latency = l.clone();
        }
        if let Some(r) = self.error_rate_5xx {
            behaviour.error_rate_5xx = r;
        }
        if let Some(r) = self.model_error_rate {
            behaviour.model_error_rate = r;
        }
        if let Some(t) = &self.throttle {
            behaviour.throttle = Some(t.clone());
        }
    }
}

/// A fault injected `at_s` simulated seconds after the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledFault {
    pub at_s: NonNegative,
    pub fault: Fault,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read the scenario: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", describe(file, *position, path.as_deref(), message))]
    Invalid {
        file: String,
        /// 1-based line and column of the offending value, when known.
        position: Option<(usize, usize)>,
        /// Where in the document, e.g. `changes[2].deployment`.
        path: Option<String>,
        /// What is wrong and how to fix it.
        message: String,
    },
    #[error("cannot load the scenario: {0}")]
    Load(String),
}

fn describe(
    file: &str,
    position: Option<(usize, usize)>,
    path: Option<&str>,
    message: &str,
) -> String {
    let at = match position {
        Some((line, column)) => format!("{file}:{line}:{column}"),
        None => file.to_string(),
    };
    match path {
        Some(path) => format!("{at}: {path}: {message}"),
        None => format!("{at}: {message}"),
    }
}

const INLINE_SOURCE: &str = "<scenario>";

impl Scenario {
    /// Parses and validates a scenario; errors are reported against `<scenario>`.
    pub fn from_yaml_str(yaml: &str) -> Result<Self, ScenarioError> {
        Self::parse(yaml, INLINE_SOURCE)
    }

    /// Reads, parses and validates a scenario file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ScenarioError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let yaml = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            file: file.clone(),
            source,
        })?;
        Self::parse(&yaml, &file)
    }

    fn parse(yaml: &str, file: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario = serde_yaml_ng::from_str(yaml).map_err(|e| yaml_error(&e, file))?;
        scenario.validate().map_err(|(path, message)| {
            let position = locate(yaml, &path);
            ScenarioError::Invalid {
                file: file.to_string(),
                position,
                path: Some(render_path(&path)),
                message,
            }
        })?;
        Ok(scenario)
    }

    /// The checks that span more than one endpoint (each endpoint checked itself when parsed).
    fn validate(&self) -> Result<(), (Vec<PathStep>, String)> {
        use PathStep::{Index, Key};
        let s = &self.settings;
        let settings_checks = [
            (
                "retention_s",
                s.retention_s > 0.0 && s.retention_s.is_finite(),
            ),
            (
                "lro_duration_s",
                s.lro_duration_s >= 0.0 && s.lro_duration_s.is_finite(),
            ),
            (
                "ingestion_delay_s",
                s.ingestion_delay_s >= 0.0 && s.ingestion_delay_s.is_finite(),
            ),
            ("deployments_page_size", s.deployments_page_size > 0),
        ];
        for (field, ok) in settings_checks {
            if !ok {
                return Err((
                    vec![Key("settings"), Key(field)],
                    format!(
                        "{field} is out of range; fix: use a positive number (0 allowed except for retention_s and deployments_page_size)"
                    ),
                ));
            }
        }
        let offsets = self
            .changes
            .iter()
            .map(|c| c.at_s)
            .enumerate()
            .map(|(i, at)| (Key("changes"), i, at))
            .chain(
                self.faults
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (Key("faults"), i, f.at_s)),
            );
        for (section, i, at_s) in offsets {
            if at_s.get() > MAX_OFFSET_S {
                return Err((
                    vec![section, Index(i), Key("at_s")],
                    format!(
                        "at_s {} is beyond ten years; fix: use at most {MAX_OFFSET_S}",
                        at_s.get()
                    ),
                ));
            }
        }
        let mut names = BTreeSet::new();
        for (i, ep) in self.endpoints.iter().enumerate() {
            if let Err(message) = ep.validate() {
                return Err((vec![Key("endpoints"), Index(i)], message));
            }
            if !names.insert(ep.name.to_ascii_lowercase()) {
                return Err((
                    vec![Key("endpoints"), Index(i), Key("name")],
                    format!(
                        "a second endpoint is named '{}'; fix: endpoint names must be unique in a scenario",
                        ep.name
                    ),
                ));
            }
            for (j, dep) in ep.deployments.iter().enumerate() {
                if let Err(message) = dep.behaviour.check_rates() {
                    return Err((
                        vec![Key("endpoints"), Index(i), Key("deployments"), Index(j)],
                        message,
                    ));
                }
            }
        }
        for (i, change) in self.changes.iter().enumerate() {
            let here = |field: &'static str| vec![Key("changes"), Index(i), Key(field)];
            let ep = self.endpoint(&change.endpoint).ok_or_else(|| {
                (
                    here("endpoint"),
                    format!(
                        "no endpoint named '{}'; fix: use one of [{}]",
                        change.endpoint,
                        self.endpoint_names()
                    ),
                )
            })?;
            match &change.deployment {
                Some(dep) => {
                    if ep.deployment(dep).is_none() {
                        return Err((
                            here("deployment"),
                            format!(
                                "endpoint '{}' has no deployment '{dep}'; fix: use one of [{}]",
                                ep.name,
                                deployment_names(ep)
                            ),
                        ));
                    }
                    if !change.touches_deployment() && change.rate.is_none() {
                        return Err((
                            here("at_s"),
                            "this change changes nothing; fix: set latency_multiplier, latency, error_rate_5xx, model_error_rate, throttle or rate".into(),
                        ));
                    }
                }
                None if change.touches_deployment() => {
                    return Err((
                        here("endpoint"),
                        "a change to latency, errors or throttling needs `deployment`; fix: name the deployment it applies to".into(),
                    ));
                }
                None if change.rate.is_none() => {
                    return Err((
                        here("at_s"),
                        "this change changes nothing; fix: set rate, or name a deployment and what changes".into(),
                    ));
                }
                None => {}
            }
            let mut probe = ep
                .deployment(change.deployment.as_deref().unwrap_or(""))
                .map(|d| d.behaviour.clone());
            if let Some(b) = probe.as_mut() {
                change.apply_to(b);
                if let Err(message) = b.check_rates() {
                    return Err((vec![Key("changes"), Index(i)], message));
                }
            }
            if let Some(RequestRate::Bursty {
                every_s,
                duration_s,
                ..
            }) = &change.rate
                && duration_s.get() > every_s.get()
            {
                return Err((
                    here("rate"),
                    "bursty duration_s is longer than every_s; fix: make duration_s at most every_s".into(),
                ));
            }
        }
        for (i, scheduled) in self.faults.iter().enumerate() {
            let here = || vec![Key("faults"), Index(i), Key("fault")];
            let (endpoint, deployments): (&str, Vec<&str>) = match &scheduled.fault {
                Fault::DeploymentFailed {
                    endpoint,
                    deployment,
                } => (endpoint, vec![deployment.as_str()]),
                Fault::OutsideTrafficChange {
                    endpoint,
                    traffic,
                    mirror_traffic,
                } => (
                    endpoint,
                    traffic
                        .keys()
                        .chain(mirror_traffic.iter().flat_map(|m| m.keys()))
                        .map(String::as_str)
                        .collect(),
                ),
                _ => continue,
            };
            let ep = self.endpoint(endpoint).ok_or_else(|| {
                (
                    here(),
                    format!(
                        "no endpoint named '{endpoint}'; fix: use one of [{}]",
                        self.endpoint_names()
                    ),
                )
            })?;
            for dep in deployments {
                if ep.deployment(dep).is_none() {
                    return Err((
                        here(),
                        format!(
                            "endpoint '{}' has no deployment '{dep}'; fix: use one of [{}]",
                            ep.name,
                            deployment_names(ep)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn endpoint(&self, name: &str) -> Option<&EndpointSpec> {
        self.endpoints
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
    }

    fn endpoint_names(&self) -> String {
        self.endpoints
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Replaces the emulator's world with this scenario: clears logs and faults, applies the
    /// settings, creates the endpoints with their initial split, registers their log
    /// contexts and installs the traffic model. Simulated time zero is `state.now()`.
    pub fn load_into(&self, state: &EmulatorState) -> Result<(), ScenarioError> {
        self.validate()
            .map_err(|(path, message)| ScenarioError::Invalid {
                file: INLINE_SOURCE.into(),
                position: None,
                path: Some(render_path(&path)),
                message,
            })?;
        // Stop generating for the old world before tearing it down.
        state.traffic.clear();
        let now = state.now();
        state.logs.clear();
        state.faults().clear();
        state.arm.reset();
        state.set_settings(self.settings.clone());

        let mut log_endpoints = Vec::with_capacity(self.endpoints.len());
        {
            let mut world = state.world();
            world.endpoints.clear();
            world.history.clear();
            for spec in &self.endpoints {
                let endpoint = self.build_endpoint(spec, now);
                let key = endpoint.key.clone();
                log_endpoints.push(EndpointLogContext {
                    log_analytics_workspace_id: spec
                        .log_analytics_workspace_id
                        .as_ref()
                        .unwrap_or(&self.log_analytics_workspace_id)
                        .to_string(),
                    endpoint_name: spec.name.clone(),
                    workspace_id: spec.workspace_id.to_string(),
                    workspace_name: spec.workspace.clone(),
                    location: spec.location.clone(),
                    resource_id: endpoint.resource_id(),
                    tenant_id: self.tenant_id.to_string(),
                });
                world.endpoints.insert(key.clone(), endpoint);
                if !world.apply_split(
                    &key,
                    spec.traffic.clone(),
                    spec.mirror_traffic.clone(),
                    Actor::Scenario,
                    None,
                    now,
                ) {
                    return Err(ScenarioError::Load(format!(
                        "endpoint '{}' vanished while loading",
                        spec.name
                    )));
                }
            }
        }
        let log_ids: Vec<u32> = log_endpoints
            .into_iter()
            .map(|ctx| state.logs.endpoint_id(ctx))
            .collect();
        state.traffic.install(self, now, &log_ids, &state.logs);
        tracing::info!(
            endpoints = self.endpoints.len(),
            changes = self.changes.len(),
            faults = self.faults.len(),
            seed = self.seed,
            "scenario loaded"
        );
        Ok(())
    }

    fn build_endpoint(&self, spec: &EndpointSpec, now: time::OffsetDateTime) -> Endpoint {
        let key = spec.key();
        let deployments = spec
            .deployments
            .iter()
            .map(|d| {
                let model = d.model.clone().unwrap_or_else(|| {
                    format!(
                        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.MachineLearningServices/workspaces/{}/models/{}-model/versions/1",
                        spec.subscription, spec.resource_group, spec.workspace, spec.name
                    )
                });
                (
                    d.name.to_ascii_lowercase(),
                    Deployment {
                        name: d.name.clone(),
                        provisioning_state: d.provisioning_state,
                        capacity: d.capacity,
                        instance_type: d.instance_type.clone(),
                        model,
                        created_at: now,
                    },
                )
            })
            .collect();
        Endpoint {
            key: key.clone(),
            name: spec.name.clone(),
            location: spec.location.clone(),
            auth_mode: spec.auth_mode.as_str().into(),
            description: None,
            tags: serde_json::Map::new(),
            provisioning_state: ProvisioningState::Succeeded,
            // The split is recorded through apply_split so it shows in the history.
            traffic: TrafficMap::new(),
            mirror_traffic: TrafficMap::new(),
            deployments,
            principal_id: Guid::derived(&["principal", spec.subscription.as_str(), &key.endpoint])
                .to_string(),
            tenant_id: self.tenant_id.to_string(),
            last_modified_at: now,
            last_modified_by: "scenario".into(),
        }
    }
}

fn deployment_names(ep: &EndpointSpec) -> String {
    ep.deployments
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Turns a serde_yaml_ng error into one that names the file, position and fix.
fn yaml_error(e: &serde_yaml_ng::Error, file: &str) -> ScenarioError {
    let full = e.to_string();
    // serde_yaml_ng appends " at line L column C"; the position is reported separately.
    let message = match full.rfind(" at line ") {
        Some(i) if e.location().is_some() => full[..i].to_string(),
        _ => full,
    };
    let hint = if message.contains("unknown field") {
        format!("; fix: remove or rename it ({DOCS_HINT})")
    } else if message.contains("missing field") {
        format!("; fix: add it ({DOCS_HINT})")
    } else if message.contains("unknown variant") {
        "; fix: use one of the listed values".into()
    } else if message.contains("invalid type") || message.contains("invalid value") {
        format!("; fix: write the value in the expected form ({DOCS_HINT})")
    } else {
        String::new()
    };
    ScenarioError::Invalid {
        file: file.to_string(),
        position: e.location().map(|l| (l.line(), l.column())),
        path: None,
        message: if message.contains("fix:") {
            message
        } else {
            message + &hint
        },
    }
}

/// A step of a path into the document.
#[derive(Debug, Clone, Copy)]
enum PathStep {
    Key(&'static str),
    Index(usize),
}

fn render_path(path: &[PathStep]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            PathStep::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathStep::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Best-effort line and column of `path` in block-style YAML, for errors found after
/// parsing. Flow-style (`{…}` / `[…]`) parts stop the search at the nearest enclosing node.
fn locate(yaml: &str, path: &[PathStep]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = yaml.lines().collect();
    let content = |line: &str| {
        let trimmed = line.trim_start();
        !(trimmed.is_empty() || trimmed.starts_with('#'))
    };
    let indent = |line: &str| line.len() - line.trim_start().len();
    // The range of lines inside the current node, and the column its children are deeper than.
    let (mut from, mut to, mut parent_col) = (0usize, lines.len(), None::<usize>);
    let mut found = None;
    for step in path {
        match step {
            PathStep::Key(key) => {
                let mut hit = None;
                for (n, line) in lines.iter().enumerate().take(to).skip(from) {
                    if !content(line) {
                        continue;
                    }
                    let mut col = indent(line);
                    let mut rest = line.trim_start();
                    if let Some(after) = rest.strip_prefix("- ") {
                        col += 2 + (after.len() - after.trim_start().len());
                        rest = after.trim_start();
                    }
                    if parent_col.is_some_and(|p| col <= p) {
                        continue;
                    }
                    if rest.strip_prefix(key).is_some_and(|r| r.starts_with(':')) {
                        hit = Some((n, col));
                        break;
                    }
                }
                let (n, col) = hit?;
                let end = (n + 1..to)
                    .find(|&m| content(lines[m]) && indent(lines[m]) <= col)
                    .unwrap_or(to);
                found = Some((n + 1, col + 1));
                (from, to, parent_col) = (n, end, Some(col));
            }
            PathStep::Index(i) => {
                let items: Vec<(usize, usize)> = (from + 1..to)
                    .filter(|&m| content(lines[m]) && lines[m].trim_start().starts_with('-'))
                    .map(|m| (m, indent(lines[m])))
                    .collect();
                let item_col = items.first()?.1;
                let (n, col) = *items.iter().filter(|(_, c)| *c == item_col).nth(*i)?;
                let end = (n + 1..to)
                    .find(|&m| content(lines[m]) && indent(lines[m]) <= col)
                    .unwrap_or(to);
                found = Some((n + 1, col + 1));
                // Keys of this item start on its own line, right after "- ".
                (from, to, parent_col) = (n, end, Some(col));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_guids_are_stable_and_well_formed() {
        let a = Guid::derived(&["x", "y"]);
        assert_eq!(a, Guid::derived(&["x", "y"]));
        assert_ne!(a, Guid::derived(&["xy"]));
        assert!(Guid::try_from(a.to_string()).is_ok(), "{a}");
    }

    #[test]
    fn locate_finds_nested_list_items() {
        let yaml =
            "seed: 1\nchanges:\n  - at_s: 1\n    endpoint: a\n  - at_s: 2\n    endpoint: b\n";
        let path = [
            PathStep::Key("changes"),
            PathStep::Index(1),
            PathStep::Key("endpoint"),
        ];
        assert_eq!(locate(yaml, &path), Some((6, 5)));
        let first = [
            PathStep::Key("changes"),
            PathStep::Index(0),
            PathStep::Key("at_s"),
        ];
        assert_eq!(locate(yaml, &first), Some((3, 5)));
    }
}
