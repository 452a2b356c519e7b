//! `canaryd demo`: the Azure emulator and the daemon in one process on a compressed clock.
//!
//! Two endpoints: `good-ep`, whose green is as good as blue (promoted through every step), and
//! `bad-ep`, whose green regresses a few simulated minutes in (rolled back). Nothing is faked
//! on the daemon's side: the real managed-identity credential fetches tokens from the
//! emulator's identity endpoint, every ARM and Log Analytics call is real HTTP on loopback,
//! queries are real KQL and traffic changes are real long-running operations.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::clock::{ScaledClock, SharedClock};
use crate::config::{AzureConfig, ClockConfig, DaemonConfig, LogFormat};
use crate::model::TrafficMap;
use crate::runner::{RunnerEvent, RunnerOptions, WindowFigures};
use crate::store::Store;

/// Simulated seconds per wall second unless `--time-scale` says otherwise.
pub const DEFAULT_TIME_SCALE: f64 = 120.0;
/// The demo gives up after this much wall time.
pub const WALL_TIMEOUT: Duration = Duration::from_secs(110);

/// The emulated world (see the file's comments).
pub const SCENARIO_YAML: &str = include_str!("demo/scenario.yaml");
/// The demo's policies, as `canaryd run` would read them from a policies directory.
pub const POLICIES: [(&str, &str); 2] = [
    ("good-ep.yaml", include_str!("demo/good-ep.yaml")),
    ("bad-ep.yaml", include_str!("demo/bad-ep.yaml")),
];
/// What a correct analysis does with each endpoint's canary.
pub const EXPECTED: [(&str, Outcome); 2] = [
    ("good-ep", Outcome::Promoted),
    ("bad-ep", Outcome::RolledBack),
];

/// How a demo rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Promoted,
    RolledBack,
    Failed,
    /// Still going when the demo stopped (time-out).
    Running,
    /// No rollout started.
    NotStarted,
}

impl Outcome {
    fn of_phase(phase: &str) -> Outcome {
        match phase {
            "promoted" => Outcome::Promoted,
            "rolled back" => Outcome::RolledBack,
            "failed" => Outcome::Failed,
            _ => Outcome::Running,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RolloutSummary {
    pub endpoint: String,
    pub outcome: Outcome,
    #[serde(skip)]
    pub expected: Outcome,
    /// The endpoint's live traffic as the emulator's ARM state holds it at the end.
    pub final_traffic: TrafficMap,
    /// The last decision's reason.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    #[serde(rename = "summary")]
    pub rollouts: Vec<RolloutSummary>,
    pub wall_seconds: f64,
    pub simulated_seconds: f64,
}

impl DemoSummary {
    /// Every rollout ended as expected.
    pub fn as_expected(&self) -> bool {
        !self.rollouts.is_empty() && self.rollouts.iter().all(|r| r.outcome == r.expected)
    }
}

/// Demo settings, including where the emulator will listen and its identity secret: both are
/// chosen (and the managed-identity environment set) by [`DemoOptions::prepare`] before any
/// thread starts, because `ManagedIdentityCredential` reads them from the process environment.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub json: bool,
    pub time_scale: f64,
    pub listen: SocketAddr,
    pub identity_header: String,
}

impl DemoOptions {
    /// Picks a free loopback port and an identity secret and points `IDENTITY_ENDPOINT` /
    /// `IDENTITY_HEADER` at them. Call before starting the async runtime (no other threads).
    pub fn prepare(json: bool, time_scale: f64) -> anyhow::Result<Self> {
        let (listen, identity_header) = loopback_managed_identity()?;
        Ok(Self {
            json,
            time_scale,
            listen,
            identity_header,
        })
    }
}

/// Picks a free loopback port for an emulator and a fresh identity secret, and points
/// `IDENTITY_ENDPOINT` / `IDENTITY_HEADER` (read by the managed-identity credential) at them.
/// Call before any other thread exists (e.g. before the async runtime starts).
pub fn loopback_managed_identity() -> anyhow::Result<(SocketAddr, String)> {
    let probe = std::net::TcpListener::bind(("127.0.0.1", 0))
        .context("finding a free loopback port for the emulator")?;
    let listen = probe.local_addr().context("reading the probe's address")?;
    drop(probe);
    let identity_header = azure_emulator::identity::random_secret();
    // SAFETY: the caller promises no other thread exists yet.
    unsafe {
        std::env::set_var(
            "IDENTITY_ENDPOINT",
            format!("http://{listen}{}", azure_emulator::IDENTITY_PATH),
        );
        std::env::set_var("IDENTITY_HEADER", &identity_header);
    }
    Ok((listen, identity_header))
}

/// Runs the demo to the end (both rollouts finished) or [`WALL_TIMEOUT`].
pub async fn run(options: DemoOptions) -> anyhow::Result<DemoSummary> {
    let wall_start = Instant::now();
    let scenario = azure_emulator::Scenario::from_yaml_str(SCENARIO_YAML)
        .map_err(|e| anyhow::anyhow!("the embedded demo scenario does not parse: {e}"))?;
    // One epoch for both clocks: the emulator's scaled clock starts at it now, and the daemon's
    // ScaledClock maps the same wall instant to it, so both agree on simulated time.
    let epoch = SystemTime::now();
    let emulator = azure_emulator::start(azure_emulator::EmulatorOptions {
        listen: options.listen,
        clock: azure_emulator::Clock::scaled(OffsetDateTime::from(epoch), options.time_scale),
        scenario: Some(scenario),
        identity_header: Some(options.identity_header.clone()),
    })
    .await
    .with_context(|| format!("starting the emulator on {}", options.listen))?;
    let clock: SharedClock = Arc::new(ScaledClock::new(epoch, options.time_scale));
    let sim_start = clock.now();

    let policies_dir = demo_dir()?;
    for (file, text) in POLICIES {
        std::fs::write(policies_dir.join(file), text)
            .with_context(|| format!("writing the demo policy {file}"))?;
    }
    let base = emulator.base_url();
    let config = DaemonConfig {
        azure: AzureConfig {
            arm_base_url: base.clone(),
            log_analytics_base_url: base.clone(),
            metrics_base_url: base,
            ..AzureConfig::default()
        },
        policies_dir: policies_dir.clone(),
        state_db: policies_dir.join("state.db"),
        log_format: LogFormat::Text,
        clock: ClockConfig {
            time_scale: options.time_scale,
            epoch_unix_s: Some(
                epoch
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64(),
            ),
        },
        ..DaemonConfig::default()
    };
    let store = Arc::new(Store::open_in_memory().context("opening an in-memory state store")?);
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(crate::runner::run_with(
        config,
        clock.clone(),
        async move {
            let _ = stop_rx.await;
        },
        RunnerOptions {
            store: Some(store),
            events: Some(events_tx),
            ..RunnerOptions::default()
        },
    ));

    let view = LiveView::new(options.json, clock.clone());
    view.banner(options.time_scale);
    let deadline = tokio::time::Instant::now() + WALL_TIMEOUT;
    let mut latest: BTreeMap<String, RunnerEvent> = BTreeMap::new();
    loop {
        let done = EXPECTED
            .iter()
            .all(|(endpoint, _)| latest.get(*endpoint).is_some_and(|event| event.terminal));
        if done {
            break;
        }
        match tokio::time::timeout_at(deadline, events_rx.recv()).await {
            Ok(Some(event)) => {
                view.show(&event);
                latest.insert(event.endpoint.clone(), event);
            }
            Ok(None) => break,
            Err(_) => {
                view.note("the demo ran out of time before both rollouts ended");
                break;
            }
        }
    }
    let _ = stop_tx.send(());
    match tokio::time::timeout(Duration::from_secs(10), daemon).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => view.note(&format!("the daemon stopped with an error: {error:#}")),
        Ok(Err(error)) => view.note(&format!("the daemon task failed: {error}")),
        Err(_) => view.note("the daemon did not stop within 10 s"),
    }

    azure_emulator::arm::settle_operations(&emulator.state);
    let rollouts = {
        let world = emulator.state.world();
        EXPECTED
            .iter()
            .map(|(endpoint, expected)| {
                let final_traffic = world
                    .key_by_name(endpoint)
                    .and_then(|key| world.endpoint(&key))
                    .map(|ep| ep.traffic.clone())
                    .unwrap_or_default();
                let (outcome, reason) = match latest.get(*endpoint) {
                    Some(event) => (Outcome::of_phase(&event.phase), event.reason.clone()),
                    None => (Outcome::NotStarted, "no rollout started".to_string()),
                };
                RolloutSummary {
                    endpoint: endpoint.to_string(),
                    outcome,
                    expected: *expected,
                    final_traffic,
                    reason,
                }
            })
            .collect()
    };
    let summary = DemoSummary {
        rollouts,
        wall_seconds: wall_start.elapsed().as_secs_f64(),
        simulated_seconds: (clock.now() - sim_start).as_seconds_f64(),
    };
    emulator.stop().await;
    let _ = std::fs::remove_dir_all(&policies_dir);
    view.summary(&summary);
    Ok(summary)
}

/// A fresh private directory for the demo's policies.
fn demo_dir() -> anyhow::Result<std::path::PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("canaryd-demo-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the demo directory {}", dir.display()))?;
    Ok(dir)
}

/// Terminal (or JSON lines) output.
struct LiveView {
    json: bool,
    clock: SharedClock,
    sim_start: OffsetDateTime,
}

impl LiveView {
    fn new(json: bool, clock: SharedClock) -> Self {
        let sim_start = clock.now();
        Self {
            json,
            clock,
            sim_start,
        }
    }

    fn elapsed(&self) -> String {
        let seconds = (self.clock.now() - self.sim_start).whole_seconds().max(0);
        format!(
            "{:02}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    }

    fn emit_json(&self, value: &impl Serialize) {
        if let Ok(line) = serde_json::to_string(value) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    fn banner(&self, scale: f64) {
        if self.json {
            self.emit_json(&serde_json::json!({ "demo": { "time_scale": scale, "endpoints": EXPECTED.iter().map(|(e, _)| *e).collect::<Vec<_>>() } }));
        } else {
            println!(
                "canaryd demo: emulated Azure + daemon, simulated time ×{scale}. good-ep's green is as good as blue; bad-ep's green regresses (1.3× latency, 3% 5xx) 6 simulated minutes in."
            );
            println!(
                "{:>8}  {:<8} {:<11} {:>6}  {:>15}  {:>15}  {:>13}  {:<12} decision",
                "sim",
                "endpoint",
                "phase",
                "canary",
                "p50 ms c/b",
                "p99 ms c/b",
                "errors c/b",
                "verdict"
            );
        }
    }

    fn show(&self, event: &RunnerEvent) {
        if self.json {
            self.emit_json(&serde_json::json!({ "event": event }));
            return;
        }
        if !event.changed && event.window.is_none() {
            return;
        }
        let (p50, p99, errors) = match &event.window {
            Some(figures) => format_figures(figures),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:>8}  {:<8} {:<11} {:>5}%  {:>15}  {:>15}  {:>13}  {:<12} {}: {}",
            self.elapsed(),
            event.endpoint,
            event.phase,
            event.canary_percent,
            p50,
            p99,
            errors,
            event.verdict.as_deref().unwrap_or("-"),
            event.decision,
            event.reason
        );
    }

    fn note(&self, message: &str) {
        if self.json {
            self.emit_json(&serde_json::json!({ "note": message }));
        } else {
            println!("note: {message}");
        }
    }

    fn summary(&self, summary: &DemoSummary) {
        if self.json {
            self.emit_json(summary);
            return;
        }
        println!();
        println!(
            "summary ({:.1} s wall, {:.0} simulated minutes):",
            summary.wall_seconds,
            summary.simulated_seconds / 60.0
        );
        for rollout in &summary.rollouts {
            let traffic: Vec<String> = rollout
                .final_traffic
                .iter()
                .map(|(d, p)| format!("{d}={p}%"))
                .collect();
            println!(
                "  {:<8} {:<12} (expected {:<12}) final traffic {}  — {}",
                rollout.endpoint,
                serde_json::to_value(rollout.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                serde_json::to_value(rollout.expected)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                traffic.join(" "),
                rollout.reason
            );
        }
        println!(
            "{}",
            if summary.as_expected() {
                "demo passed: the good canary was promoted and the bad one rolled back"
            } else {
                "demo FAILED: a rollout did not end as expected"
            }
        );
    }
}

fn format_figures(figures: &WindowFigures) -> (String, String, String) {
    let ms = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into());
    let pct = |v: Option<f64>| {
        v.map(|v| format!("{:.1}%", v * 100.0))
            .unwrap_or_else(|| "-".into())
    };
    (
        format!(
            "{}/{}",
            ms(figures.canary.p50_ms),
            ms(figures.baseline.p50_ms)
        ),
        format!(
            "{}/{}",
            ms(figures.canary.p99_ms),
            ms(figures.baseline.p99_ms)
        ),
        format!(
            "{}/{}",
            pct(figures.canary.error_rate),
            pct(figures.baseline.error_rate)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_policies_are_valid_and_target_the_scenario_endpoints() {
        for (file, text) in POLICIES {
            let policy = crate::policy::parse_str(text, std::path::Path::new(file))
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                EXPECTED
                    .iter()
                    .any(|(endpoint, _)| *endpoint == policy.target.endpoint),
                "{file} targets {}",
                policy.target
            );
        }
    }

    #[test]
    fn embedded_scenario_parses() {
        assert!(azure_emulator::Scenario::from_yaml_str(SCENARIO_YAML).is_ok());
    }
}
