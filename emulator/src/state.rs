//! The one shared state behind every route and the traffic generator.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, RwLock};
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::faults::{Fault, FaultState};
use crate::logstore::LogStore;
use crate::model::{Actor, Endpoint, EndpointKey, ProvisioningState, TrafficChange, TrafficMap};

/// Emulator behaviour that a scenario file may set under `settings:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// How long (simulated seconds) a long-running operation reports `InProgress`.
    pub lro_duration_s: f64,
    /// `Retry-After` (seconds) the emulator suggests between LRO polls.
    pub lro_retry_after_s: u32,
    /// Rows become visible to Log Analytics this many simulated seconds after TimeGenerated.
    pub ingestion_delay_s: f64,
    /// Rows older than this (simulated seconds) are dropped: bounds memory on long runs.
    pub retention_s: f64,
    /// Lifetime of issued tokens, in real (wall-clock) seconds.
    pub token_lifetime_s: u64,
    /// Page size of the deployments list (`nextLink` beyond it).
    pub deployments_page_size: usize,
    /// ARM throttling from token buckets; off unless set.
    pub arm_throttling: Option<ArmThrottling>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lro_duration_s: 10.0,
            lro_retry_after_s: 1,
            ingestion_delay_s: 60.0,
            retention_s: 3600.0,
            token_lifetime_s: 3600,
            deployments_page_size: 100,
            arm_throttling: None,
        }
    }
}

/// Azure's documented ARM buckets per subscription and principal: reads 250 refilled at 25/s,
/// writes 200 refilled at 10/s (wall-clock seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArmThrottling {
    pub read_capacity: u32,
    pub read_refill_per_s: f64,
    pub write_capacity: u32,
    pub write_refill_per_s: f64,
}

impl Default for ArmThrottling {
    fn default() -> Self {
        Self {
            read_capacity: 250,
            read_refill_per_s: 25.0,
            write_capacity: 200,
            write_refill_per_s: 10.0,
        }
    }
}

/// ARM's view of the world plus the history of every applied split.
#[derive(Debug, Default)]
pub struct World {
    pub endpoints: BTreeMap<EndpointKey, Endpoint>,
    pub history: Vec<TrafficChange>,
}

impl World {
    pub fn endpoint(&self, key: &EndpointKey) -> Option<&Endpoint> {
        self.endpoints.get(key)
    }

    pub fn endpoint_mut(&mut self, key: &EndpointKey) -> Option<&mut Endpoint> {
        self.endpoints.get_mut(key)
    }

    /// Finds an endpoint by its name alone (names are unique within one emulator's scenario).
    pub fn key_by_name(&self, name: &str) -> Option<EndpointKey> {
        let lower = name.to_ascii_lowercase();
        self.endpoints.keys().find(|k| k.endpoint == lower).cloned()
    }

    /// Applies a split and records it in the history. The caller has validated it.
    pub fn apply_split(
        &mut self,
        key: &EndpointKey,
        traffic: TrafficMap,
        mirror_traffic: TrafficMap,
        actor: Actor,
        operation_id: Option<String>,
        now: OffsetDateTime,
    ) -> bool {
        let Some(ep) = self.endpoints.get_mut(key) else {
            return false;
        };
        let change = TrafficChange {
            at: now,
            endpoint: ep.name.clone(),
            old_traffic: std::mem::replace(&mut ep.traffic, traffic.clone()),
            new_traffic: traffic,
            old_mirror_traffic: std::mem::replace(&mut ep.mirror_traffic, mirror_traffic.clone()),
            new_mirror_traffic: mirror_traffic,
            actor,
            operation_id,
        };
        ep.last_modified_at = now;
        ep.last_modified_by = match actor {
            Actor::Arm => "canaryd-arm-client".into(),
            Actor::Scenario => "scenario".into(),
            Actor::Outside => "someone@example.com".into(),
        };
        self.history.push(change);
        true
    }
}

pub struct EmulatorState {
    pub clock: Clock,
    pub settings: RwLock<Settings>,
    pub world: Mutex<World>,
    pub logs: LogStore,
    pub faults: Mutex<FaultState>,
    pub tokens: crate::identity::TokenIssuer,
    pub arm: crate::arm::ArmRuntime,
    pub traffic: crate::generator::TrafficRuntime,
    /// The secret a caller of the identity endpoint must send as `x-identity-header`.
    pub identity_header: String,
}

impl EmulatorState {
    pub fn new(clock: Clock, identity_header: String) -> Self {
        Self {
            clock,
            settings: RwLock::new(Settings::default()),
            world: Mutex::new(World::default()),
            logs: LogStore::new(),
            faults: Mutex::new(FaultState::default()),
            tokens: crate::identity::TokenIssuer::default(),
            arm: crate::arm::ArmRuntime::default(),
            traffic: crate::generator::TrafficRuntime::default(),
            identity_header,
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// A poisoned lock only means another request panicked mid-update; the data is still
    /// the best we have, and the emulator must keep answering.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultState> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_settings(&self, settings: Settings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = settings;
    }

    /// Injects a fault now: one-shot faults are queued for the routes; a deployment failure
    /// or an outside traffic change is applied to the world at once.
    pub fn inject_fault(&self, fault: &Fault) -> Result<(), FaultError> {
        self.inject_fault_at(fault, self.now())
    }

    /// As [`Self::inject_fault`], stamped at `now`: the generator fires a scenario's fault at
    /// its scheduled simulated time even when it catches up later.
    pub fn inject_fault_at(&self, fault: &Fault, now: OffsetDateTime) -> Result<(), FaultError> {
        let Some(world_fault) = self.faults().queue(fault, now) else {
            return Ok(());
        };
        let mut world = self.world();
        match world_fault {
            Fault::DeploymentFailed {
                endpoint,
                deployment,
            } => {
                let key = world
                    .key_by_name(&endpoint)
                    .ok_or(FaultError::UnknownEndpoint(endpoint.clone()))?;
                let ep = world
                    .endpoint_mut(&key)
                    .ok_or(FaultError::UnknownEndpoint(endpoint.clone()))?;
                let dep = ep
                    .deployments
                    .get_mut(&deployment.to_ascii_lowercase())
                    .ok_or(FaultError::UnknownDeployment {
                        endpoint,
                        deployment,
                    })?;
                dep.provisioning_state = ProvisioningState::Failed;
            }
            Fault::OutsideTrafficChange {
                endpoint,
                traffic,
                mirror_traffic,
            } => {
                let key = world
                    .key_by_name(&endpoint)
                    .ok_or(FaultError::UnknownEndpoint(endpoint.clone()))?;
                let ep = world
                    .endpoint(&key)
                    .ok_or(FaultError::UnknownEndpoint(endpoint.clone()))?;
                let traffic: TrafficMap = traffic
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect();
                let mirror: TrafficMap = mirror_traffic
                    .map(|m| {
                        m.into_iter()
                            .map(|(k, v)| (k.to_ascii_lowercase(), v))
                            .collect()
                    })
                    .unwrap_or_else(|| ep.mirror_traffic.clone());
                for name in traffic.keys().chain(mirror.keys()) {
                    if ep.deployment(name).is_none() {
                        return Err(FaultError::UnknownDeployment {
                            endpoint: endpoint.clone(),
                            deployment: name.clone(),
                        });
                    }
                }
                world.apply_split(&key, traffic, mirror, Actor::Outside, None, now);
            }
            _ => {}
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultError {
    #[error("no endpoint named '{0}' in the loaded scenario")]
    UnknownEndpoint(String),
    #[error("endpoint '{endpoint}' has no deployment named '{deployment}'")]
    UnknownDeployment {
        endpoint: String,
        deployment: String,
    },
}
