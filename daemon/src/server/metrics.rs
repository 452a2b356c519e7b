//! Prometheus metrics (`GET /metrics`, OpenMetrics text).
//!
//! Event counters live in one process-wide registry so the places where things happen (the
//! runner, the Azure HTTP layer, the metrics sources, the alert webhook) add to them with one
//! line. Rollout gauges and judge statistics are read from the store at scrape time, so they
//! are never stale and survive restarts.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde_json::Value;
use std::sync::atomic::AtomicU64;

use crate::rollout::{Phase, RolloutState};
use crate::store::{Store, StoreError};

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AzureLabels {
    api: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabel {
    api: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    condition: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RolloutLabels {
    rollout: String,
    endpoint: String,
    canary: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    rollout: String,
    check: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

struct Events {
    registry: Mutex<Registry>,
    decisions: Family<KindLabel, Counter>,
    source_latency: Family<SourceLabel, Histogram>,
    source_errors: Family<SourceLabel, Counter>,
    azure_requests: Family<AzureLabels, Counter>,
    azure_throttled: Family<ApiLabel, Counter>,
    alerts: Family<AlertLabels, Counter>,
}

fn source_histogram() -> Histogram {
    // 10 ms … ~80 s.
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

fn events() -> &'static Events {
    static EVENTS: OnceLock<Events> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let mut registry = Registry::default();
        let decisions = Family::<KindLabel, Counter>::default();
        registry.register(
            "canaryd_decisions",
            "Rollout decisions taken, by kind",
            decisions.clone(),
        );
        let source_latency = Family::<SourceLabel, Histogram>::new_with_constructor(
            source_histogram as fn() -> Histogram,
        );
        registry.register(
            "canaryd_source_query_duration_seconds",
            "Wall time of one metrics-source observation (one window)",
            source_latency.clone(),
        );
        let source_errors = Family::<SourceLabel, Counter>::default();
        registry.register(
            "canaryd_source_errors",
            "Metrics-source observations that failed",
            source_errors.clone(),
        );
        let azure_requests = Family::<AzureLabels, Counter>::default();
        registry.register(
            "canaryd_azure_requests",
            "HTTP requests to Azure (one per attempt), by API and status code",
            azure_requests.clone(),
        );
        let azure_throttled = Family::<ApiLabel, Counter>::default();
        registry.register(
            "canaryd_azure_throttled",
            "Azure answers 429 Too Many Requests, by API",
            azure_throttled.clone(),
        );
        let alerts = Family::<AlertLabels, Counter>::default();
        registry.register(
            "canaryd_alerts_received",
            "Azure Monitor alert notifications received, by condition and outcome (recorded or duplicate)",
            alerts.clone(),
        );
        Events {
            registry: Mutex::new(registry),
            decisions,
            source_latency,
            source_errors,
            azure_requests,
            azure_throttled,
            alerts,
        }
    })
}

/// One rollout decision (every transition, repeated holds included).
pub fn record_decision(kind: &str) {
    events()
        .decisions
        .get_or_create(&KindLabel { kind: kind.into() })
        .inc();
}

/// One metrics-source observation and whether it failed.
pub fn record_source_query(source: &str, elapsed: Duration, failed: bool) {
    let label = SourceLabel {
        source: source.into(),
    };
    events()
        .source_latency
        .get_or_create(&label)
        .observe(elapsed.as_secs_f64());
    if failed {
        events().source_errors.get_or_create(&label).inc();
    }
}

/// One HTTP attempt to Azure: `scope` names the API, `status` is the HTTP status (None when no
/// answer came).
pub fn record_azure_request(scope: &str, status: Option<u16>) {
    let api = if scope == crate::azure::ARM_SCOPE {
        "arm"
    } else if scope == crate::azure::LOG_ANALYTICS_SCOPE {
        "log_analytics"
    } else {
        "other"
    };
    let code = status.map_or_else(|| "none".to_string(), |s| s.to_string());
    events()
        .azure_requests
        .get_or_create(&AzureLabels {
            api: api.into(),
            code,
        })
        .inc();
    if status == Some(429) {
        events()
            .azure_throttled
            .get_or_create(&ApiLabel { api: api.into() })
            .inc();
    }
}

/// One alert notification: `fired`/`resolved`, `recorded`/`duplicate`.
pub fn record_alert(condition: &str, outcome: &str) {
    events()
        .alerts
        .get_or_create(&AlertLabels {
            condition: condition.into(),
            outcome: outcome.into(),
        })
        .inc();
}

/// The whole exposition: the event counters, then the rollouts' gauges read from `store`.
pub fn render(store: &Store) -> Result<String, StoreError> {
    let snapshot = rollout_registry(store)?;
    let mut text = String::new();
    {
        let registry = events()
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut text, &registry);
    }
    let _ = encode_registry(&mut text, &snapshot);
    let _ = encode_eof(&mut text);
    Ok(text)
}

/// Gauges of the stored rollouts: how many per phase; for active ones the step, the canary's
/// traffic, whether paused, and the latest judge statistics per check.
fn rollout_registry(store: &Store) -> Result<Registry, StoreError> {
    let mut registry = Registry::default();
    let by_phase = Family::<PhaseLabel, Gauge>::default();
    registry.register(
        "canaryd_rollouts",
        "Stored rollouts by phase (paused ones count as `paused`)",
        by_phase.clone(),
    );
    let step = Family::<RolloutLabels, Gauge>::default();
    registry.register(
        "canaryd_rollout_step",
        "Active rollout's step, 1-based; 0 before the first step (pending, shadow), -1 while baking at 100%",
        step.clone(),
    );
    let traffic = Family::<RolloutLabels, Gauge>::default();
    registry.register(
        "canaryd_rollout_canary_traffic_percent",
        "Live traffic percent on the active rollout's canary, as canaryd last confirmed it",
        traffic.clone(),
    );
    let paused = Family::<RolloutLabels, Gauge>::default();
    registry.register(
        "canaryd_rollout_paused",
        "1 while the active rollout is paused",
        paused.clone(),
    );
    let estimate = Family::<CheckLabels, FloatGauge>::default();
    registry.register(
        "canaryd_judge_estimate",
        "Latest point estimate of each check of an active rollout, in the check's unit",
        estimate.clone(),
    );
    let e_value = Family::<CheckLabels, FloatGauge>::default();
    registry.register(
        "canaryd_judge_e_value",
        "Latest e-value (evidence of regression) of each check of an active rollout",
        e_value.clone(),
    );
    let threshold = Family::<CheckLabels, FloatGauge>::default();
    registry.register(
        "canaryd_judge_threshold",
        "Each check's limit, in the estimate's unit",
        threshold.clone(),
    );
    for record in store.rollouts(false)? {
        let Ok(state) = serde_json::from_value::<RolloutState>(record.state) else {
            by_phase
                .get_or_create(&PhaseLabel {
                    phase: "unreadable".into(),
                })
                .inc();
            continue;
        };
        let phase = if state.paused.is_some() {
            "paused".to_string()
        } else {
            match state.phase {
                Phase::Step(_) => "step".to_string(),
                other => other.label(),
            }
        };
        by_phase.get_or_create(&PhaseLabel { phase }).inc();
        if !record.active {
            continue;
        }
        let labels = RolloutLabels {
            rollout: state.id.clone(),
            endpoint: state.endpoint.to_string(),
            canary: state.canary.clone(),
        };
        let step_number = match state.phase {
            Phase::Step(i) => i as i64 + 1,
            Phase::Baking | Phase::Promoted => -1,
            _ => 0,
        };
        step.get_or_create(&labels).set(step_number);
        traffic
            .get_or_create(&labels)
            .set(i64::from(state.expected_split.traffic_of(&state.canary)));
        paused
            .get_or_create(&labels)
            .set(i64::from(state.paused.is_some()));
        let Some(entry) = store.last_evidence(&state.id)? else {
            continue;
        };
        let checks = entry
            .evidence
            .get("checks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for check in checks {
            let Some(name) = check.get("name").and_then(Value::as_str) else {
                continue;
            };
            let labels = CheckLabels {
                rollout: state.id.clone(),
                check: name.to_string(),
            };
            for (family, key) in [
                (&estimate, "estimate"),
                (&e_value, "e_value"),
                (&threshold, "threshold"),
            ] {
                if let Some(value) = check.get(key).and_then(Value::as_f64) {
                    family.get_or_create(&labels).set(value);
                }
            }
        }
    }
    Ok(registry)
}
