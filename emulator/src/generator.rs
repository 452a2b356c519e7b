//! Synthetic `AmlOnlineEndpointTrafficLog` rows that follow the live split.
//!
//! Simulated time is cut into fixed slots of [`SLOT_MS`]. Each slot of each endpoint draws
//! from its own RNG, seeded from (scenario seed, endpoint index, slot index), so the rows are
//! the same however generation is chunked in wall time: one `catch_up` over an hour or
//! thousands of small ones. Per slot: a Poisson number of arrivals at the endpoint's rate,
//! spread uniformly over the slot; each routed by a weighted draw over the endpoint's LIVE
//! `traffic` (read from the world at that slot), plus a mirrored copy to the shadow
//! deployment with probability `mirror_traffic%`. See `emulator/docs/scenario.md`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use time::OffsetDateTime;

use crate::clock::{from_unix_us, unix_us};
use crate::faults::Fault;
use crate::logstore::LogStore;
use crate::model::{EndpointKey, RequestRow, TrafficMap};
use crate::scenario::{Behaviour, Change, RequestRate, Scenario, splitmix64};
use crate::state::EmulatorState;

/// Length of one generation slot in simulated milliseconds: the resolution of rate changes,
/// scheduled changes and faults, and of "rows appear".
pub const SLOT_MS: i64 = 100;
const SLOT_US: i64 = SLOT_MS * 1000;
/// Prune the log every this many slots inside a long catch-up (one simulated minute).
const PRUNE_EVERY_SLOTS: u64 = 600;
/// How often (wall clock) the background task catches up on a scaled clock.
const TICK: std::time::Duration = std::time::Duration::from_millis(100);
/// Request rates above this are capped.
pub const MAX_RPS: f64 = 1_000_000.0;

/// The installed traffic model; `None` until a scenario is loaded.
#[derive(Default)]
pub struct TrafficRuntime {
    inner: Mutex<RuntimeInner>,
}

#[derive(Default)]
struct RuntimeInner {
    plan: Option<Plan>,
    /// Never reset, so request ids stay unique for the emulator's lifetime.
    next_seq: u64,
    /// (endpoint index, deployment) pairs already warned about, to warn once.
    warned: HashSet<(usize, String)>,
}

struct Plan {
    seed: u64,
    start_us: i64,
    endpoints: Vec<EndpointPlan>,
    /// Sorted by slot; ties keep scenario order (changes before faults).
    events: Vec<Event>,
    next_event: usize,
    next_slot: u64,
}

struct EndpointPlan {
    key: EndpointKey,
    name: String,
    log_id: u32,
    rate: RequestRate,
    deployments: Vec<DeploymentPlan>,
}

struct DeploymentPlan {
    /// Lower case, as split maps hold it.
    key: String,
    name_id: u32,
    behaviour: Behaviour,
}

struct Event {
    /// The first slot the event applies to: `ceil(at / SLOT)`.
    slot: u64,
    at: OffsetDateTime,
    kind: EventKind,
}

enum EventKind {
    Change { endpoint: usize, change: Change },
    Fault(Fault),
}

impl TrafficRuntime {
    fn lock(&self) -> MutexGuard<'_, RuntimeInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops generating (a new scenario is about to be loaded).
    pub fn clear(&self) {
        self.lock().plan = None;
    }

    pub fn is_installed(&self) -> bool {
        self.lock().plan.is_some()
    }

    /// Installs the traffic model of a validated scenario whose simulated time zero is
    /// `start`; `log_ids[i]` is the log store's id of endpoint i's context.
    pub(crate) fn install(
        &self,
        scenario: &Scenario,
        start: OffsetDateTime,
        log_ids: &[u32],
        logs: &LogStore,
    ) {
        let endpoints: Vec<EndpointPlan> = scenario
            .endpoints
            .iter()
            .zip(log_ids)
            .map(|(spec, log_id)| EndpointPlan {
                key: spec.key(),
                name: spec.name.clone(),
                log_id: *log_id,
                rate: spec.rate.clone(),
                deployments: spec
                    .deployments
                    .iter()
                    .map(|d| DeploymentPlan {
                        key: d.name.to_ascii_lowercase(),
                        name_id: logs.intern(&d.name),
                        behaviour: d.behaviour.clone(),
                    })
                    .collect(),
            })
            .collect();
        let slot_of = |at_s: f64| (at_s * 1000.0 / SLOT_MS as f64).ceil().max(0.0) as u64;
        // Validation bounds at_s; saturate anyway rather than panic on a hand-built scenario.
        let at = |at_s: f64| {
            time::Duration::checked_seconds_f64(at_s)
                .and_then(|d| start.checked_add(d))
                .unwrap_or(start)
        };
        let mut events: Vec<Event> = Vec::new();
        for change in &scenario.changes {
            let Some(endpoint) = endpoints
                .iter()
                .position(|e| e.name.eq_ignore_ascii_case(&change.endpoint))
            else {
                tracing::warn!(endpoint = %change.endpoint, "change names an unknown endpoint; skipped");
                continue;
            };
            events.push(Event {
                slot: slot_of(change.at_s.get()),
                at: at(change.at_s.get()),
                kind: EventKind::Change {
                    endpoint,
                    change: change.clone(),
                },
            });
        }
        for fault in &scenario.faults {
            events.push(Event {
                slot: slot_of(fault.at_s.get()),
                at: at(fault.at_s.get()),
                kind: EventKind::Fault(fault.fault.clone()),
            });
        }
        events.sort_by_key(|e| e.slot);
        let mut inner = self.lock();
        inner.warned.clear();
        inner.plan = Some(Plan {
            seed: scenario.seed,
            start_us: unix_us(start),
            endpoints,
            events,
            next_event: 0,
            next_slot: 0,
        });
    }
}

/// Runs [`catch_up`] every 100 ms of wall time on a scaled clock. On a manual clock it does
/// nothing: rows appear only when someone calls [`catch_up`] (after advancing the clock).
pub fn spawn(state: Arc<EmulatorState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if state.clock.is_manual() {
            tracing::debug!("manual clock: traffic is generated on catch_up only");
            return;
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let state = state.clone();
            // Generation is CPU work; keep it off the runtime's worker threads.
            if let Err(e) = tokio::task::spawn_blocking(move || catch_up(&state)).await {
                tracing::error!(error = %e, "traffic generation failed");
            }
        }
    })
}

/// Generates every row of every slot that ends at or before `state.now()`, fires the
/// scheduled changes and faults whose time has come, and prunes rows older than the
/// retention. Must not be called while holding the world lock.
pub fn catch_up(state: &EmulatorState) {
    let now_us = unix_us(state.now());
    let retention_us = (state.settings().retention_s * 1e6) as i64;
    let mut guard = state.traffic.lock();
    let inner = &mut *guard;
    let Some(plan) = inner.plan.as_mut() else {
        return;
    };
    let mut rows: Vec<RequestRow> = Vec::new();
    let mut splits: Vec<Option<(TrafficMap, TrafficMap)>> = Vec::new();
    let mut slots_since_prune = 0u64;
    loop {
        let slot_start_us = plan.start_us + plan.next_slot as i64 * SLOT_US;
        let slot_end_us = slot_start_us + SLOT_US;
        if slot_end_us > now_us {
            break;
        }
        fire_due_events(state, plan, plan.next_slot);
        // A long-running operation that ended by this slot's start has changed the split:
        // rows switch deployment at that moment, not when a client next polls.
        crate::arm::settle_operations_at(state, from_unix_us(slot_start_us));
        {
            let world = state.world();
            splits.clear();
            splits.extend(plan.endpoints.iter().map(|e| {
                world
                    .endpoint(&e.key)
                    .map(|ep| (ep.traffic.clone(), ep.mirror_traffic.clone()))
            }));
        }
        rows.clear();
        for (index, endpoint) in plan.endpoints.iter().enumerate() {
            let Some((traffic, mirror)) = &splits[index] else {
                if inner.warned.insert((index, String::new())) {
                    tracing::warn!(endpoint = %endpoint.name, "endpoint no longer exists; generating nothing for it");
                }
                continue;
            };
            let mut rng = ChaCha8Rng::seed_from_u64(slot_seed(plan.seed, index, plan.next_slot));
            let t_s = (plan.next_slot as f64 + 0.5) * SLOT_MS as f64 / 1000.0;
            let slot = SlotInput {
                endpoint,
                endpoint_index: index,
                start_us: slot_start_us,
                rps: endpoint.rate.rps_at(t_s),
                traffic,
                mirror,
            };
            generate_slot(
                &slot,
                &mut rng,
                &mut inner.next_seq,
                &mut inner.warned,
                &mut rows,
            );
        }
        // Stable: within one instant, a live row stays before its mirrored copy.
        rows.sort_by_key(|r| r.time_us);
        state.logs.append(&rows);
        plan.next_slot += 1;
        slots_since_prune += 1;
        if slots_since_prune >= PRUNE_EVERY_SLOTS {
            state
                .logs
                .prune_before(slot_end_us.saturating_sub(retention_us));
            slots_since_prune = 0;
        }
    }
    // Events due at the start of the (incomplete) current slot fire now, not when it ends.
    fire_due_events(state, plan, plan.next_slot);
    state.logs.prune_before(now_us.saturating_sub(retention_us));
}

fn slot_seed(seed: u64, endpoint: usize, slot: u64) -> u64 {
    splitmix64(splitmix64(seed ^ splitmix64(endpoint as u64)) ^ slot)
}

fn fire_due_events(state: &EmulatorState, plan: &mut Plan, slot: u64) {
    while let Some(event) = plan.events.get(plan.next_event)
        && event.slot <= slot
    {
        match &event.kind {
            EventKind::Change { endpoint, change } => {
                let Some(ep) = plan.endpoints.get_mut(*endpoint) else {
                    plan.next_event += 1;
                    continue;
                };
                if let Some(rate) = &change.rate {
                    ep.rate = rate.clone();
                }
                if let Some(name) = &change.deployment {
                    let key = name.to_ascii_lowercase();
                    match ep.deployments.iter_mut().find(|d| d.key == key) {
                        Some(dep) => change.apply_to(&mut dep.behaviour),
                        None => {
                            tracing::warn!(endpoint = %ep.name, deployment = %name, "change names an unknown deployment; skipped")
                        }
                    }
                }
                tracing::info!(endpoint = %ep.name, deployment = ?change.deployment, at = %event.at, "scheduled change applied");
            }
            EventKind::Fault(fault) => match state.inject_fault_at(fault, event.at) {
                Ok(()) => tracing::info!(?fault, at = %event.at, "scheduled fault injected"),
                Err(e) => tracing::warn!(error = %e, "scheduled fault could not be applied"),
            },
        }
        plan.next_event += 1;
    }
}

struct SlotInput<'a> {
    endpoint: &'a EndpointPlan,
    endpoint_index: usize,
    start_us: i64,
    rps: f64,
    traffic: &'a TrafficMap,
    mirror: &'a TrafficMap,
}

/// Appends one slot's rows of one endpoint to `rows`, in arrival order.
fn generate_slot(
    slot: &SlotInput<'_>,
    rng: &mut ChaCha8Rng,
    next_seq: &mut u64,
    warned: &mut HashSet<(usize, String)>,
    rows: &mut Vec<RequestRow>,
) {
    // A typo like `rps: 1e12` must not exhaust memory.
    let lambda = slot.rps.min(MAX_RPS) * SLOT_MS as f64 / 1000.0;
    let arrivals = match Poisson::new(lambda) {
        Ok(poisson) => poisson.sample(rng) as u64,
        // λ = 0 (no traffic) or not finite.
        Err(_) => 0,
    };
    if arrivals == 0 {
        return;
    }
    // u64: an unvalidated outside split could overflow a u32 sum.
    let total_weight: u64 = slot.traffic.values().map(|w| u64::from(*w)).sum();
    if total_weight == 0 {
        // Azure answers 404 "no deployment with positive weight"; nothing is served or logged.
        return;
    }
    let mut offsets: Vec<i64> = (0..arrivals)
        .map(|_| rng.random_range(0..SLOT_US))
        .collect();
    offsets.sort_unstable();
    let resolve = |name: &str| slot.endpoint.deployments.iter().find(|d| d.key == name);
    for offset in offsets {
        let time_us = slot.start_us + offset;
        let mut pick = rng.random_range(0..total_weight);
        let mut chosen = None;
        for (name, weight) in slot.traffic {
            let weight = u64::from(*weight);
            if pick < weight {
                chosen = Some(name);
                break;
            }
            pick -= weight;
        }
        let Some(name) = chosen else { continue };
        let Some(live) = resolve(name) else {
            warn_unknown(warned, slot, name);
            continue;
        };
        let seq = *next_seq;
        *next_seq += 1;
        rows.push(make_row(
            rng,
            &live.behaviour,
            RowIds {
                time_us,
                seq,
                mirror_of: None,
                endpoint: slot.endpoint.log_id,
                deployment: live.name_id,
            },
        ));
        for (shadow_name, percent) in slot.mirror {
            if *percent == 0 || rng.random_range(0..100u32) >= *percent {
                continue;
            }
            let Some(shadow) = resolve(shadow_name) else {
                warn_unknown(warned, slot, shadow_name);
                continue;
            };
            let mirror_seq = *next_seq;
            *next_seq += 1;
            rows.push(make_row(
                rng,
                &shadow.behaviour,
                RowIds {
                    time_us,
                    seq: mirror_seq,
                    mirror_of: Some(seq),
                    endpoint: slot.endpoint.log_id,
                    deployment: shadow.name_id,
                },
            ));
        }
    }
}

fn warn_unknown(warned: &mut HashSet<(usize, String)>, slot: &SlotInput<'_>, name: &str) {
    if warned.insert((slot.endpoint_index, name.to_string())) {
        tracing::warn!(
            endpoint = %slot.endpoint.name,
            deployment = %name,
            "the split names a deployment the scenario does not describe; its requests are skipped"
        );
    }
}

struct RowIds {
    time_us: i64,
    seq: u64,
    mirror_of: Option<u64>,
    endpoint: u32,
    deployment: u32,
}

/// Gateway/container 5xx codes and their shares: a crashed or restarting container (502),
/// no capacity (503), an unhandled gateway error (500).
const GATEWAY_5XX: [(u16, f64); 3] = [(502, 0.4), (503, 0.4), (500, 0.2)];
/// Bytes per millisecond the gateway moves a payload at, for Request/ResponseDurationMs.
const BYTES_PER_MS: f64 = 50_000.0;

fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    let z: f64 = StandardNormal.sample(rng);
    median * (sigma * z).exp()
}

/// One latency draw in ms from a deployment's distribution, changes applied.
pub fn sample_latency_ms(rng: &mut ChaCha8Rng, behaviour: &Behaviour) -> f64 {
    let latency = &behaviour.latency;
    let (median, sigma) = match &latency.second_mode {
        Some(mode) if rng.random::<f64>() < mode.probability.get() => {
            (mode.median_ms.get(), mode.sigma.get())
        }
        _ => (latency.median_ms.get(), latency.sigma.get()),
    };
    let mut ms = lognormal(rng, median, sigma) * behaviour.latency_multiplier.get();
    if let Some(tail) = &latency.tail
        && rng.random::<f64>() < tail.probability.get()
    {
        ms *= tail.multiplier.get();
    }
    ms
}

fn to_ms(x: f64) -> u32 {
    x.round().clamp(0.0, f64::from(u32::MAX)) as u32
}

fn make_row(rng: &mut ChaCha8Rng, behaviour: &Behaviour, ids: RowIds) -> RequestRow {
    let request_payload_size = to_ms(lognormal(
        rng,
        f64::from(behaviour.payload.request_bytes.max(1)),
        0.35,
    ));
    let throttle_rate = behaviour.throttle.as_ref().map_or(0.0, |t| t.rate.get());
    let error_5xx = behaviour.error_rate_5xx.get();
    let model_error = behaviour.model_error_rate.get();
    let u: f64 = rng.random();

    let mut row = RequestRow {
        time_us: ids.time_us,
        seq: ids.seq,
        mirror_of: ids.mirror_of,
        endpoint: ids.endpoint,
        deployment: ids.deployment,
        response_code: 200,
        model_status_code: 200,
        total_duration_ms: 0,
        request_duration_ms: 0,
        response_duration_ms: 0,
        request_throttling_delay_ms: 0,
        response_throttling_delay_ms: 0,
        request_payload_size,
        response_payload_size: 0,
    };
    let request_ms =
        to_ms(f64::from(request_payload_size) / BYTES_PER_MS) + rng.random_range(0..=1);

    if u < throttle_rate {
        // Rejected by the gateway before the model sees it.
        let delay = behaviour.throttle.as_ref().map_or(0, |t| t.delay_ms);
        row.response_code = 429;
        row.model_status_code = 0;
        row.request_throttling_delay_ms = delay;
        row.request_duration_ms = request_ms;
        row.total_duration_ms = delay
            .saturating_add(request_ms)
            .saturating_add(rng.random_range(1..=3));
        row.response_payload_size = rng.random_range(90..=140);
        return row;
    }
    if u < throttle_rate + error_5xx {
        let mut pick: f64 = rng.random();
        let mut code = GATEWAY_5XX[0].0;
        for (c, share) in GATEWAY_5XX {
            if pick < share {
                code = c;
                break;
            }
            pick -= share;
        }
        row.response_code = code;
        row.model_status_code = 0;
        row.request_duration_ms = request_ms;
        // 503 is refused up front; 500/502 fail after the container worked on it.
        let work = if code == 503 {
            f64::from(rng.random_range(1..=5u32))
        } else {
            sample_latency_ms(rng, behaviour)
        };
        row.total_duration_ms = to_ms(work).max(request_ms);
        row.response_duration_ms = row.total_duration_ms - request_ms;
        row.response_payload_size = rng.random_range(90..=220);
        return row;
    }
    let total = to_ms(sample_latency_ms(rng, behaviour)).max(1);
    if u < throttle_rate + error_5xx + model_error {
        // The model answered 500; Azure ML reports it to the client as 424 "Model Error".
        row.response_code = 424;
        row.model_status_code = 500;
        row.response_payload_size = rng.random_range(150..=400);
    } else {
        row.response_payload_size = to_ms(lognormal(
            rng,
            f64::from(behaviour.payload.response_bytes.max(1)),
            0.35,
        ));
    }
    let transfer_ms = to_ms(f64::from(row.response_payload_size) / BYTES_PER_MS);
    row.total_duration_ms = total;
    row.request_duration_ms = request_ms.min(total);
    row.response_duration_ms =
        total - row.request_duration_ms - transfer_ms.min(total - row.request_duration_ms);
    row
}
