//! Alert-to-PUT latency: wall time from sending an Azure Monitor alert to the daemon's HTTP
//! server until the emulator's ARM receives the rollback PUT.
//!
//! One process: the emulator (loopback Azure), the daemon (runner + server, a file-backed
//! store with its synced journal, the real managed-identity credential) and this client. One
//! endpoint holds a baseline and `CANARYD_BENCH_ALERTS` (default 200) canary deployments; for
//! each canary in turn the bench waits until its rollout serves it 5%, sends a Fired alert
//! naming it, records when ARM received the PUT that puts all traffic back on the baseline,
//! then resolves the alert. Prints n, mean, p50, p90, p99 and max.
//!
//! `cargo bench -p canaryd --bench alert_to_put`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::bail;
use azure_emulator::model::Actor;
use azure_emulator::{Clock, EmulatorOptions, RunningEmulator, Scenario};
use canaryd::clock::{ScaledClock, SharedClock};
use canaryd::config::{AzureConfig, ClockConfig, DaemonConfig, ServerConfig};
use canaryd::runner::RunnerOptions;
use serde_json::json;
use time::OffsetDateTime;

const SUBSCRIPTION: &str = "00000000-0000-4000-8000-0000000000bb";
const RESOURCE_GROUP: &str = "rg-bench";
const WORKSPACE: &str = "ws-bench";
const ENDPOINT: &str = "bench-ep";
const LA_WORKSPACE: &str = "5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11";
const ALERT_TOKEN: &str = "bench-alert-secret";
const TIME_SCALE: f64 = 100.0;
/// Longest wait for any one step of a cycle.
const STEP_LIMIT: Duration = Duration::from_secs(30);

fn canary(index: usize) -> String {
    format!("c{index:03}")
}

fn scenario(canaries: usize) -> String {
    let mut text = format!(
        r#"seed: 5
settings:
  ingestion_delay_s: 5
  retention_s: 1800
  lro_duration_s: 2
  deployments_page_size: 1000
endpoints:
  - name: {ENDPOINT}
    subscription: {SUBSCRIPTION}
    resource_group: {RESOURCE_GROUP}
    workspace: {WORKSPACE}
    traffic: {{blue: 100}}
    rate: {{steady: {{rps: 20}}}}
    deployments:
      - name: blue
        latency: {{median_ms: 50, sigma: 0.3}}
        error_rate_5xx: 0.002
"#
    );
    for index in 0..canaries {
        text.push_str(&format!(
            "      - name: {}\n        latency: {{median_ms: 50, sigma: 0.3}}\n        error_rate_5xx: 0.002\n",
            canary(index)
        ));
    }
    text
}

fn policy() -> String {
    format!(
        r#"name: {ENDPOINT}
target:
  subscription: {SUBSCRIPTION}
  resource_group: {RESOURCE_GROUP}
  workspace: {WORKSPACE}
  endpoint: {ENDPOINT}
source:
  log_analytics:
    workspace_id: {LA_WORKSPACE}
    ingestion_delay: 10s
plan:
  steps: [5, 25, 100]
  min_duration: 1h
  min_canary_requests: 20
  interval: 10s
  deadline: 12h
failure:
  on_inconclusive: hold
"#
    )
}

fn alert(id: usize, condition: &str, deployment: &str) -> serde_json::Value {
    json!({"schemaId":"azureMonitorCommonAlertSchema",
      "data":{"essentials":{
        "alertId": format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.AlertsManagement/alerts/bench-{id}"),
        "alertRule":"canary-p99-latency","severity":"Sev2","signalType":"Metric",
        "monitorCondition": condition,"monitoringService":"Platform",
        "alertTargetIDs":[format!("/subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}/providers/microsoft.machinelearningservices/workspaces/{WORKSPACE}/onlineendpoints/{ENDPOINT}")]},
       "alertContext":{"conditionType":"SingleResourceMultipleMetricCriteria",
        "condition":{"windowSize":"PT5M","allOf":[{"metricName":"RequestLatency_P99",
          "operator":"GreaterThan","threshold":"500","timeAggregation":"Average",
          "dimensions":[{"name":"deployment","value":deployment}],"metricValue":734.2}]}}}})
}

/// The canary the emulator last saw at 5% live traffic through ARM, if the last change did that.
fn canary_at_five(emulator: &RunningEmulator) -> Option<String> {
    azure_emulator::arm::settle_operations(&emulator.state);
    let world = emulator.state.world();
    let last = world.history.iter().rev().find(|c| c.actor == Actor::Arm)?;
    last.new_traffic
        .iter()
        .find(|(name, percent)| name.as_str() != "blue" && **percent == 5)
        .map(|(name, _)| name.clone())
}

async fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return Ok(value);
        }
        if start.elapsed() > STEP_LIMIT {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    // Nearest rank.
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: then run a few.
    let benching = std::env::args().any(|a| a == "--bench");
    let alerts: usize = std::env::var("CANARYD_BENCH_ALERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 200 } else { 3 });
    // The managed-identity credential reads its endpoint from the environment: set it before
    // any thread starts.
    let (emulator_addr, identity_header) = canaryd::demo::loopback_managed_identity()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench(alerts, emulator_addr, identity_header))
}

async fn bench(
    alerts: usize,
    emulator_addr: SocketAddr,
    identity_header: String,
) -> anyhow::Result<()> {
    let epoch = SystemTime::now();
    let emulator = azure_emulator::start(EmulatorOptions {
        listen: emulator_addr,
        clock: Clock::scaled(OffsetDateTime::from(epoch), TIME_SCALE),
        scenario: Some(
            Scenario::from_yaml_str(&scenario(alerts))
                .map_err(|e| anyhow::anyhow!("bench scenario: {e}"))?,
        ),
        identity_header: Some(identity_header),
    })
    .await?;
    let dir = std::env::temp_dir().join(format!("canaryd-bench-alert-{}", std::process::id()));
    let policies_dir = dir.join("policies");
    std::fs::create_dir_all(&policies_dir)?;
    std::fs::write(policies_dir.join("bench.yaml"), policy())?;
    let epoch_unix_s = epoch.duration_since(SystemTime::UNIX_EPOCH)?.as_secs_f64();
    let base = emulator.base_url();
    let config = DaemonConfig {
        azure: AzureConfig {
            arm_base_url: base.clone(),
            log_analytics_base_url: base.clone(),
            metrics_base_url: base,
            ..AzureConfig::default()
        },
        policies_dir,
        state_db: dir.join("state.db"),
        clock: ClockConfig {
            time_scale: TIME_SCALE,
            epoch_unix_s: Some(epoch_unix_s),
        },
        server: ServerConfig {
            alert_token: Some(ALERT_TOKEN.into()),
            ..ServerConfig::default()
        },
        ..DaemonConfig::default()
    };
    let clock: SharedClock = Arc::new(ScaledClock::from_unix(epoch_unix_s, TIME_SCALE));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!(
        "http://{}/api/v1/alerts?token={ALERT_TOKEN}",
        listener.local_addr()?
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(canaryd::server::run_daemon(
        config,
        clock,
        listener,
        async move {
            let _ = stopped.await;
        },
        RunnerOptions::default(),
    ));
    let http = reqwest::Client::new();
    let mut latencies_ms = Vec::with_capacity(alerts);
    for index in 0..alerts {
        let deployment = wait_until("a canary at 5%", || canary_at_five(&emulator)).await?;
        let puts_before = emulator.state.arm.put_receipts().len();
        let sent = Instant::now();
        let response = http
            .post(&url)
            .header("content-type", "application/json")
            .body(alert(index, "Fired", &deployment).to_string())
            .send()
            .await?;
        if !response.status().is_success() {
            bail!(
                "alert refused: {}",
                response.text().await.unwrap_or_default()
            );
        }
        let received = wait_until("the rollback PUT", || {
            emulator.state.arm.put_receipts()[puts_before..]
                .iter()
                .find(|r| r.traffic.get("blue") == Some(&100) && r.traffic.len() == 1)
                .map(|r| r.received)
        })
        .await?;
        latencies_ms.push(received.duration_since(sent).as_secs_f64() * 1000.0);
        wait_until("the rollback applied", || {
            (canary_at_five(&emulator).is_none()).then_some(())
        })
        .await?;
        http.post(&url)
            .header("content-type", "application/json")
            .body(alert(index, "Resolved", &deployment).to_string())
            .send()
            .await?;
    }
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), daemon).await;
    emulator.stop().await;
    let _ = std::fs::remove_dir_all(&dir);

    latencies_ms.sort_by(f64::total_cmp);
    let n = latencies_ms.len();
    let mean = latencies_ms.iter().sum::<f64>() / n as f64;
    println!(
        "alert_to_put: n = {n} alerts, mean {mean:.2} ms, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies_ms, 0.50),
        percentile(&latencies_ms, 0.90),
        percentile(&latencies_ms, 0.99),
        latencies_ms[n - 1],
    );
    Ok(())
}
