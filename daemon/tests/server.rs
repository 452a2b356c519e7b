//! The HTTP server against the in-process emulator: the real runner, the real managed-identity
//! credential, real HTTP. Assertions read the emulator's traffic history (what ARM applied) and
//! the store's journal.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use azure_emulator::model::{Actor, TrafficChange};
use azure_emulator::{Clock, EmulatorOptions, RunningEmulator, Scenario};
use canaryd::azure::{ARM_SCOPE, LOG_ANALYTICS_SCOPE};
use canaryd::clock::{ScaledClock, SharedClock};
use canaryd::config::{AzureConfig, ClockConfig, DaemonConfig, ServerConfig};
use canaryd::runner::RunnerOptions;
use canaryd::store::{AlertCondition, AlertRecord, Store};
use serde_json::{Value, json};
use time::OffsetDateTime;

const SUBSCRIPTION: &str = "00000000-0000-4000-8000-0000000000aa";
const RESOURCE_GROUP: &str = "rg-canary";
const WORKSPACE: &str = "ws-canary";
const LA_WORKSPACE: &str = "5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11";
/// Simulated seconds per wall second: a 10 s interval is 0.1 s of wall time.
const TIME_SCALE: f64 = 100.0;
const WAIT_LIMIT: Duration = Duration::from_secs(40);
const CONTROL_TOKEN: &str = "control-secret-1";
const READ_TOKEN: &str = "read-secret-2";
const ALERT_TOKEN: &str = "alert-secret-3";

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

fn scenario() -> String {
    format!(
        r#"seed: 11
settings:
  ingestion_delay_s: 5
  retention_s: 7200
  lro_duration_s: 2
endpoints:
  - name: my-ep
    subscription: {SUBSCRIPTION}
    resource_group: {RESOURCE_GROUP}
    workspace: {WORKSPACE}
    traffic: {{blue: 100}}
    rate: {{steady: {{rps: 40}}}}
    deployments:
      - name: blue
        latency: {{median_ms: 50, sigma: 0.3}}
        error_rate_5xx: 0.002
      - name: green
        latency: {{median_ms: 50, sigma: 0.3}}
        error_rate_5xx: 0.002
"#
    )
}

/// Steps 5→10→25→50→100; `min_duration_s` per step; inconclusive steps advance.
fn policy(min_duration_s: u32) -> String {
    format!(
        r#"name: my-ep
target:
  subscription: {SUBSCRIPTION}
  resource_group: {RESOURCE_GROUP}
  workspace: {WORKSPACE}
  endpoint: my-ep
source:
  log_analytics:
    workspace_id: {LA_WORKSPACE}
    ingestion_delay: 10s
plan:
  steps: [5, 10, 25, 50, 100]
  min_duration: {min_duration_s}s
  min_canary_requests: 20
  interval: 10s
  deadline: 12h
  early_promotion: false
judge:
  checks:
    latency: {{max_increase: 0.10}}
    errors:
      - {{kind: gateway_5xx, max_ratio: 2.0}}
failure:
  source_error_grace: 10m
  on_inconclusive: advance
after_promotion:
  bake_time: 20s
"#
    )
}

/// A step that lasts a long time (the test acts while the canary sits at 5%).
const SLOW: u32 = 3600;
/// Steps that pass in a fraction of a wall second.
const FAST: u32 = 30;

struct Daemon {
    emulator: RunningEmulator,
    store: Arc<Store>,
    base: String,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    dir: PathBuf,
}

impl Daemon {
    /// Emulator + runner + server with all three tokens, `policies` in a fresh directory and
    /// `alerts` already in the store (as a restarted daemon finds them).
    async fn start(policies: &[(&str, String)], alerts: &[AlertRecord]) -> Daemon {
        Daemon::start_with(policies, alerts, |_, _| {}).await
    }

    /// [`Daemon::start`] with the config and runner options adjusted by `configure`.
    async fn start_with(
        policies: &[(&str, String)],
        alerts: &[AlertRecord],
        configure: impl FnOnce(&mut DaemonConfig, &mut RunnerOptions),
    ) -> Daemon {
        let epoch = SystemTime::now();
        let emulator = azure_emulator::start(EmulatorOptions {
            clock: Clock::scaled(OffsetDateTime::from(epoch), TIME_SCALE),
            scenario: Some(Scenario::from_yaml_str(&scenario()).expect("scenario parses")),
            ..EmulatorOptions::default()
        })
        .await
        .expect("the emulator starts");
        let credential =
            common::managed_identity(&emulator, &[ARM_SCOPE, LOG_ANALYTICS_SCOPE]).await;
        let dir = std::env::temp_dir().join(format!(
            "canaryd-server-test-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        let policies_dir = dir.join("policies");
        std::fs::create_dir_all(&policies_dir).expect("policies dir");
        for (file, text) in policies {
            std::fs::write(policies_dir.join(file), text).expect("write policy");
        }
        let epoch_unix_s = epoch
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        let base_url = emulator.base_url();
        let mut config = DaemonConfig {
            azure: AzureConfig {
                arm_base_url: base_url.clone(),
                log_analytics_base_url: base_url.clone(),
                metrics_base_url: base_url,
                ..AzureConfig::default()
            },
            policies_dir,
            state_db: dir.join("state.db"),
            clock: ClockConfig {
                time_scale: TIME_SCALE,
                epoch_unix_s: Some(epoch_unix_s),
            },
            server: ServerConfig {
                control_token: Some(CONTROL_TOKEN.into()),
                read_token: Some(READ_TOKEN.into()),
                alert_token: Some(ALERT_TOKEN.into()),
                ..ServerConfig::default()
            },
            ..DaemonConfig::default()
        };
        let store = Arc::new(Store::open_in_memory().expect("store"));
        for alert in alerts {
            assert!(store.record_alert(alert).expect("record alert"));
        }
        let clock: SharedClock = Arc::new(ScaledClock::from_unix(epoch_unix_s, TIME_SCALE));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut options = RunnerOptions {
            store: Some(store.clone()),
            credential: Some(credential),
            ..RunnerOptions::default()
        };
        configure(&mut config, &mut options);
        let task = tokio::spawn(canaryd::server::run_daemon(
            config,
            clock,
            listener,
            async move {
                let _ = stopped.await;
            },
            options,
        ));
        Daemon {
            emulator,
            store,
            base,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
            dir,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the daemon stops");
            result.expect("no panic").expect("the daemon ran");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Changes ARM applied (the daemon's), oldest first.
    fn arm_changes(&self) -> Vec<TrafficChange> {
        azure_emulator::arm::settle_operations(&self.emulator.state);
        self.emulator
            .state
            .world()
            .history
            .iter()
            .filter(|c| c.actor == Actor::Arm)
            .cloned()
            .collect()
    }

    fn puts(&self) -> usize {
        self.emulator.state.arm.put_receipts().len()
    }

    async fn wait_for(&self, what: &str, ok: impl Fn(&Daemon) -> bool) {
        let start = Instant::now();
        while !ok(self) {
            assert!(
                start.elapsed() < WAIT_LIMIT,
                "timed out waiting for {what}; ARM changes: {:?}",
                self.arm_changes()
                    .iter()
                    .map(|c| &c.new_traffic)
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the canary serves `percent`% (applied by ARM).
    async fn wait_for_green(&self, percent: u32) {
        self.wait_for(&format!("green at {percent}%"), |d| {
            d.arm_changes().last().is_some_and(|c| green(c) == percent)
        })
        .await;
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn alert(&self, query_token: Option<&str>, body: &Value) -> (u16, Value) {
        let path = match query_token {
            Some(token) => format!("/api/v1/alerts?token={token}"),
            None => "/api/v1/alerts".to_string(),
        };
        self.request(reqwest::Method::POST, &path, None, Some(body.to_string()))
            .await
    }

    async fn control(&self, id: &str, command: &str, token: Option<&str>) -> (u16, Value) {
        self.request(
            reqwest::Method::POST,
            &format!("/api/v1/rollouts/{id}/{command}"),
            token,
            Some(json!({ "reason": format!("test {command}") }).to_string()),
        )
        .await
    }

    /// The only rollout's id (waits for it to exist).
    async fn rollout_id(&self) -> String {
        self.wait_for("a rollout", |d| {
            d.store.rollouts(false).is_ok_and(|r| !r.is_empty())
        })
        .await;
        let (status, body) = self
            .request(
                reqwest::Method::GET,
                "/api/v1/rollouts",
                Some(READ_TOKEN),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["rollouts"][0]["id"]
            .as_str()
            .expect("an id")
            .to_string()
    }

    fn phase(&self, id: &str) -> String {
        let record = self.store.rollout(id).expect("read").expect("exists");
        let state: canaryd::rollout::RolloutState =
            serde_json::from_value(record.state).expect("state");
        if state.paused.is_some() {
            format!("paused in {}", state.phase.label())
        } else {
            state.phase.label()
        }
    }

    /// Journal entries of the rollout that carry an alert.
    fn alert_entries(&self, id: &str) -> usize {
        self.store
            .journal(id)
            .expect("journal")
            .iter()
            .filter(|e| e.raw_counts.get("alert").is_some())
            .count()
    }
}

fn green(change: &TrafficChange) -> u32 {
    change.new_traffic.get("green").copied().unwrap_or(0)
}

fn endpoint_id(endpoint: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}/providers/microsoft.machinelearningservices/workspaces/{WORKSPACE}/onlineendpoints/{endpoint}"
    )
}

/// A metric alert in the common alert schema.
fn metric_alert(alert_id: &str, condition: &str, target: &str, deployment: Option<&str>) -> Value {
    let dimensions = match deployment {
        Some(name) => json!([{ "name": "deployment", "value": name }]),
        None => json!([]),
    };
    json!({"schemaId":"azureMonitorCommonAlertSchema",
      "data":{"essentials":{
        "alertId": format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.AlertsManagement/alerts/{alert_id}"),
        "alertRule":"green-p99-latency","severity":"Sev2","signalType":"Metric","monitorCondition": condition,
        "monitoringService":"Platform","alertTargetIDs":[target],
        "configurationItems":["my-ep"],"firedDateTime":"2026-01-01T00:10:24.371Z",
        "essentialsVersion":"1.0","alertContextVersion":"1.0"},
       "alertContext":{"conditionType":"SingleResourceMultipleMetricCriteria",
        "condition":{"windowSize":"PT5M","allOf":[{"metricName":"RequestLatency_P99",
          "operator":"GreaterThan","threshold":"500","timeAggregation":"Average",
          "dimensions": dimensions,"metricValue":734.2}]}},
       "customProperties":null}})
}

/// Lets the daemon run `intervals` plan intervals (10 simulated seconds each).
async fn let_run(intervals: u32) {
    tokio::time::sleep(Duration::from_secs_f64(
        f64::from(intervals) * 10.0 / TIME_SCALE,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fired_alert_rolls_the_canary_back_and_a_duplicate_changes_nothing() {
    let daemon = Daemon::start(&[("my-ep.yaml", policy(SLOW))], &[]).await;
    daemon.wait_for_green(5).await;
    let id = daemon.rollout_id().await;
    let puts_before = daemon.puts();
    let alert = metric_alert("b9569717", "Fired", &endpoint_id("my-ep"), Some("green"));

    let (status, body) = daemon.alert(Some(ALERT_TOKEN), &alert).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "recorded", "{body}");
    assert_eq!(body["rollouts"], json!([id.clone()]), "{body}");
    daemon.wait_for_green(0).await;
    daemon
        .wait_for("the rollout to end rolled back", |d| {
            d.phase(&id) == "rolled back"
        })
        .await;

    let (status, body) = daemon.alert(Some(ALERT_TOKEN), &alert).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "duplicate", "{body}");
    let_run(10).await;

    assert_eq!(
        daemon.puts(),
        puts_before + 1,
        "exactly one PUT: the rollback"
    );
    let changes = daemon.arm_changes();
    let last = changes.last().expect("changes");
    assert_eq!(last.new_traffic.get("blue"), Some(&100));
    assert_eq!(
        changes.iter().filter(|c| green(c) == 0).count(),
        1,
        "one rollback change"
    );
    assert_eq!(
        daemon.alert_entries(&id),
        1,
        "one journal entry for the alert"
    );
    let entry = daemon
        .store
        .journal(&id)
        .expect("journal")
        .into_iter()
        .find(|e| e.raw_counts.get("alert").is_some())
        .expect("the alert's entry");
    for part in ["green-p99-latency", "Sev2", "734.2", "GreaterThan 500"] {
        assert!(
            entry.decision.contains(part),
            "{} lacks {part}",
            entry.decision
        );
    }
    assert!(
        entry.decision.contains("Azure Monitor alert") && !entry.decision.contains("operator"),
        "the alert, not an operator, is the reason: {}",
        entry.decision
    );
    assert!(
        entry.action.is_some() && entry.result.is_some(),
        "{entry:?}"
    );
    assert_eq!(daemon.store.alerts().expect("alerts").len(), 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_alerts_and_commands_are_refused_and_move_nothing() {
    let daemon = Daemon::start(&[("my-ep.yaml", policy(SLOW))], &[]).await;
    daemon.wait_for_green(5).await;
    let id = daemon.rollout_id().await;
    let puts_before = daemon.puts();
    let alert = metric_alert("unauth", "Fired", &endpoint_id("my-ep"), None);

    let (status, body) = daemon.alert(None, &alert).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = daemon.alert(Some("wrong"), &alert).await;
    assert_eq!(status, 401, "{body}");
    // The control or read token is not the alert secret.
    let (status, _) = daemon
        .request(
            reqwest::Method::POST,
            "/api/v1/alerts",
            Some(CONTROL_TOKEN),
            Some(alert.to_string()),
        )
        .await;
    assert_eq!(status, 401);
    for token in [None, Some("wrong"), Some(READ_TOKEN)] {
        let (status, body) = daemon.control(&id, "abort", token).await;
        assert_eq!(status, 401, "{token:?}: {body}");
    }
    let (status, _) = daemon
        .request(reqwest::Method::GET, "/api/v1/rollouts", None, None)
        .await;
    assert_eq!(status, 401, "reads need the read token");
    let (status, _) = daemon
        .request(reqwest::Method::GET, "/metrics", Some("wrong"), None)
        .await;
    assert_eq!(status, 401);
    let_run(5).await;

    assert_eq!(daemon.puts(), puts_before, "nothing moved");
    assert!(daemon.store.alerts().expect("alerts").is_empty());
    assert_eq!(daemon.phase(&id), "step 1");
    assert_eq!(daemon.alert_entries(&id), 0);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_alert_is_refused_naming_the_field() {
    let daemon = Daemon::start(&[("my-ep.yaml", policy(SLOW))], &[]).await;
    let mut no_targets = metric_alert("m1", "Fired", &endpoint_id("my-ep"), None);
    no_targets["data"]["essentials"]
        .as_object_mut()
        .expect("essentials")
        .remove("alertTargetIDs");
    let (status, body) = daemon.alert(Some(ALERT_TOKEN), &no_targets).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "data.essentials.alertTargetIDs", "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("alertTargetIDs")),
        "{body}"
    );
    let mut bad_condition = metric_alert("m2", "Fired", &endpoint_id("my-ep"), None);
    bad_condition["data"]["essentials"]["monitorCondition"] = json!("Sometimes");
    let (status, body) = daemon.alert(Some(ALERT_TOKEN), &bad_condition).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "data.essentials.monitorCondition", "{body}");
    let (status, body) = daemon
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/alerts?token={ALERT_TOKEN}"),
            None,
            Some("{not json".into()),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(daemon.store.alerts().expect("alerts").is_empty());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_for_another_endpoint_or_deployment_change_nothing() {
    let daemon = Daemon::start(&[("my-ep.yaml", policy(SLOW))], &[]).await;
    daemon.wait_for_green(5).await;
    let id = daemon.rollout_id().await;
    let puts_before = daemon.puts();
    for (alert_id, target, deployment) in [
        ("other-ep", endpoint_id("other-ep"), None),
        ("other-ep-green", endpoint_id("other-ep"), Some("green")),
        ("baseline", endpoint_id("my-ep"), Some("blue")),
    ] {
        let alert = metric_alert(alert_id, "Fired", &target, deployment);
        let (status, body) = daemon.alert(Some(ALERT_TOKEN), &alert).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["outcome"], "recorded", "{body}");
        assert_eq!(body["rollouts"], json!([]), "{alert_id}: {body}");
    }
    let_run(10).await;
    assert_eq!(daemon.puts(), puts_before, "nothing moved");
    assert_eq!(daemon.phase(&id), "step 1");
    assert_eq!(daemon.alert_entries(&id), 0);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_firing_alert_blocks_new_rollouts_until_resolved() {
    // As after a restart: the store already holds a firing alert on the endpoint.
    let fired = canaryd::server::alerts::parse_alert(
        metric_alert("remembered", "Fired", &endpoint_id("my-ep"), None)
            .to_string()
            .as_bytes(),
        OffsetDateTime::now_utc(),
    )
    .expect("valid alert");
    assert_eq!(fired.condition, AlertCondition::Fired);
    let daemon = Daemon::start(&[("my-ep.yaml", policy(FAST))], &[fired]).await;
    let_run(20).await;
    assert_eq!(daemon.puts(), 0, "no rollout starts while the alert fires");
    assert!(daemon.store.rollouts(false).expect("rollouts").is_empty());

    let resolved = metric_alert("remembered", "Resolved", &endpoint_id("my-ep"), None);
    let (status, body) = daemon.alert(Some(ALERT_TOKEN), &resolved).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "recorded", "{body}");
    daemon.wait_for_green(5).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_the_rollout_and_resume_lets_it_advance() {
    let daemon = Daemon::start(&[("my-ep.yaml", policy(FAST))], &[]).await;
    daemon.wait_for_green(5).await;
    let id = daemon.rollout_id().await;
    let (status, body) = daemon.control(&id, "pause", Some(CONTROL_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"], "pause", "{body}");
    assert_eq!(body["paused"], true, "{body}");
    let puts = daemon.puts();
    // Without the pause the 30 s step would have advanced several times over.
    let_run(30).await;
    assert_eq!(daemon.puts(), puts, "a paused rollout does not advance");
    assert_eq!(daemon.phase(&id), "paused in step 1");
    let (status, body) = daemon.control(&id, "promote", Some(CONTROL_TOKEN)).await;
    assert_eq!(status, 409, "promote is refused while paused: {body}");

    let (status, body) = daemon.control(&id, "resume", Some(CONTROL_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"], "resume", "{body}");
    assert_eq!(body["paused"], false, "{body}");
    daemon.wait_for_green(10).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_rolls_back_and_promote_advances_at_once() {
    let daemon = Daemon::start(&[("my-ep.yaml", policy(SLOW))], &[]).await;
    daemon.wait_for_green(5).await;
    let id = daemon.rollout_id().await;

    let (status, body) = daemon.control(&id, "promote", Some(CONTROL_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"], "advance", "{body}");
    assert_eq!(body["canary_percent"], 10, "{body}");
    daemon.wait_for_green(10).await;

    let (status, body) = daemon.control(&id, "abort", Some(CONTROL_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"], "roll back", "{body}");
    assert_eq!(body["phase"], "rolled back", "{body}");
    daemon.wait_for_green(0).await;

    let (status, body) = daemon.control(&id, "abort", Some(CONTROL_TOKEN)).await;
    assert_eq!(status, 409, "a finished rollout: {body}");
    let (status, body) = daemon
        .control("rg/ws/nope/green@1", "pause", Some(CONTROL_TOKEN))
        .await;
    assert_eq!(status, 404, "{body}");

    let (status, body) = daemon
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/rollouts/{id}"),
            Some(READ_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rollout"]["phase"], "rolled back", "{body}");
    assert_eq!(
        body["rollout"]["last_decision"]["kind"], "complete",
        "{body}"
    );
    let journal = body["journal"].as_array().expect("journal");
    assert!(
        journal.iter().any(|e| e["decision"]
            .as_str()
            .is_some_and(|d| d.contains("test abort"))),
        "the operator's reason is journaled: {body}"
    );
    daemon.stop().await;
}

/// `name{labels} value` lines (OpenMetrics / Prometheus text), comments checked for shape.
fn parse_exposition(text: &str) -> Vec<(String, f64)> {
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.split_whitespace().collect();
            assert!(
                matches!(words.first(), Some(&"HELP" | &"TYPE" | &"UNIT" | &"EOF")),
                "bad comment line: {line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unclosed labels in {line}");
        }
        samples.push((series.to_string(), value));
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_carry_the_series() {
    let daemon = Daemon::start(&[("my-ep.yaml", policy(FAST))], &[]).await;
    daemon.wait_for_green(10).await;
    // ARM applies the change before the runner stores it as confirmed; the gauges read the store.
    let id = daemon.rollout_id().await;
    daemon
        .wait_for("the store to confirm step 2", |d| d.phase(&id) != "step 1")
        .await;
    let alert = metric_alert("metrics", "Resolved", &endpoint_id("other-ep"), None);
    let (status, _) = daemon.alert(Some(ALERT_TOKEN), &alert).await;
    assert_eq!(status, 200);
    let response = daemon
        .http
        .get(format!("{}/metrics", daemon.base))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("text");
    let samples = parse_exposition(&text);
    let value = |prefix: &str| {
        samples
            .iter()
            .filter(|(series, _)| series.starts_with(prefix))
            .map(|(_, v)| *v)
            .fold(None, |acc: Option<f64>, v| Some(acc.unwrap_or(0.0) + v))
    };
    for (prefix, at_least) in [
        ("canaryd_decisions_total{kind=\"advance\"}", 1.0),
        (
            "canaryd_azure_requests_total{api=\"arm\",code=\"200\"}",
            1.0,
        ),
        ("canaryd_azure_requests_total{api=\"log_analytics\"", 1.0),
        (
            "canaryd_source_query_duration_seconds_count{source=\"log_analytics\"}",
            1.0,
        ),
        (
            "canaryd_alerts_received_total{condition=\"resolved\",outcome=\"recorded\"}",
            1.0,
        ),
        ("canaryd_rollouts{phase=\"step\"}", 1.0),
        ("canaryd_rollout_canary_traffic_percent{", 10.0),
        ("canaryd_rollout_step{", 2.0),
    ] {
        let found = value(prefix).unwrap_or_else(|| panic!("no series {prefix} in\n{text}"));
        assert!(found >= at_least, "{prefix} = {found} < {at_least}\n{text}");
    }
    assert!(
        value("canaryd_judge_e_value{").is_some() && value("canaryd_judge_estimate{").is_some(),
        "judge statistics of the active rollout:\n{text}"
    );
    // Each judged window's figures are journaled for the status page and the report.
    let id = daemon.rollout_id().await;
    let journal = daemon.store.journal(&id).expect("journal");
    let figures: Vec<&Value> = journal
        .iter()
        .filter_map(|e| e.raw_counts.get("figures"))
        .collect();
    assert!(!figures.is_empty(), "no figures in the journal");
    for figure in figures {
        let start = figure["window_start_unix_s"].as_i64().expect("start");
        let end = figure["window_end_unix_s"].as_i64().expect("end");
        assert!(start < end, "{figure}");
        for arm in ["baseline", "canary"] {
            assert!(figure[arm]["requests"].is_u64(), "{figure}");
            for key in ["p50_ms", "p99_ms", "error_rate"] {
                assert!(figure[arm].get(key).is_some(), "{arm}.{key} in {figure}");
            }
        }
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_a_bad_policy_and_healthz_stays_alive() {
    let daemon = Daemon::start(
        &[
            ("my-ep.yaml", policy(SLOW)),
            (
                "broken.yaml",
                "name: broken\nplan: [not, a, map]\n".to_string(),
            ),
        ],
        &[],
    )
    .await;
    let (status, body) = daemon
        .request(reqwest::Method::GET, "/healthz", None, None)
        .await;
    assert_eq!(status, 200, "{body}");
    daemon
        .wait_for("the first policy scan", |d| {
            d.store.schema_version().is_ok()
        })
        .await;
    let start = Instant::now();
    let body = loop {
        let (status, body) = daemon
            .request(reqwest::Method::GET, "/readyz", None, None)
            .await;
        if body["policies_scanned"] == true {
            assert_eq!(status, 503, "{body}");
            break body;
        }
        assert!(start.elapsed() < WAIT_LIMIT, "never scanned: {body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(body["ready"], false, "{body}");
    assert_eq!(body["store"]["ok"], true, "{body}");
    assert_eq!(body["credential"]["ok"], true, "{body}");
    let policies = body["policies"].as_array().expect("policies");
    let broken = policies
        .iter()
        .find(|p| {
            p["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("broken.yaml"))
        })
        .expect("the broken policy is listed");
    assert!(broken["error"].is_string(), "{body}");
    let good = policies
        .iter()
        .find(|p| {
            p["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("my-ep.yaml"))
        })
        .expect("the good policy is listed");
    assert!(good["error"].is_null(), "{body}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_reads_and_controls_through_the_api() {
    use canaryd::cli::control::{Command, CommandArgs, ServerArgs, StatusArgs};
    let daemon = Daemon::start(&[("my-ep.yaml", policy(SLOW))], &[]).await;
    daemon.wait_for_green(5).await;
    let id = daemon.rollout_id().await;
    let server = |token: &str| ServerArgs {
        server: Some(daemon.base.clone()),
        token: Some(token.to_string()),
        config: None,
    };
    let status_args = StatusArgs {
        rollout: None,
        json: false,
        server: server(READ_TOKEN),
    };
    let listed = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        canaryd::cli::control::status(&status_args, &mut out).map(|()| out)
    })
    .await
    .expect("joins")
    .expect("status answers");
    let listed = String::from_utf8(listed).expect("utf-8");
    assert!(
        listed.contains(&id) && listed.contains("step 1"),
        "{listed}"
    );

    let refused = CommandArgs {
        rollout: id.clone(),
        reason: Some("cli".into()),
        server: server(READ_TOKEN),
    };
    let error = tokio::task::spawn_blocking(move || {
        canaryd::cli::control::command(Command::Pause, &refused, &mut Vec::new())
    })
    .await
    .expect("joins")
    .expect_err("the read token cannot pause");
    let message = format!("{error:#}");
    assert!(
        message.contains("401") && message.contains("control token"),
        "{message}"
    );

    let pause = CommandArgs {
        rollout: id.clone(),
        reason: Some("cli".into()),
        server: server(CONTROL_TOKEN),
    };
    let said = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        canaryd::cli::control::command(Command::Pause, &pause, &mut out).map(|()| out)
    })
    .await
    .expect("joins")
    .expect("pause answers");
    let said = String::from_utf8(said).expect("utf-8");
    assert!(said.contains("pause") && said.contains("paused"), "{said}");
    assert_eq!(daemon.phase(&id), "paused in step 1");

    let unreachable = StatusArgs {
        rollout: None,
        json: true,
        server: ServerArgs {
            server: Some("http://127.0.0.1:9".into()),
            token: None,
            config: None,
        },
    };
    let error = tokio::task::spawn_blocking(move || {
        canaryd::cli::control::status(&unreachable, &mut Vec::new())
    })
    .await
    .expect("joins")
    .expect_err("nothing listens there");
    assert!(
        format!("{error:#}").contains("http://127.0.0.1:9"),
        "{error:#}"
    );
    daemon.stop().await;
}

/// A local webhook receiver: every JSON body posted to it, in order.
async fn webhook_receiver() -> (String, Arc<std::sync::Mutex<Vec<Value>>>) {
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().expect("receiver lock").push(body);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_receiver_gets_one_notification_per_changed_decision() {
    let (url, received) = webhook_receiver().await;
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
    let daemon = Daemon::start_with(&[("my-ep.yaml", policy(FAST))], &[], |config, options| {
        config.notify.webhooks = vec![canaryd::notify::WebhookConfig {
            name: "receiver".into(),
            format: canaryd::notify::WebhookFormat::Generic,
            url: Some(url),
            url_file: None,
            decisions: None,
        }];
        options.events = Some(events_tx);
    })
    .await;
    daemon
        .wait_for("the rollout to finish", |d| {
            d.store
                .rollouts(false)
                .expect("rollouts")
                .iter()
                .any(|r| !r.active)
        })
        .await;
    // Several more intervals of (repeated) holds-free idling: nothing more may be sent.
    let_run(5).await;
    daemon.stop().await;
    let mut events = Vec::new();
    while let Ok(event) = events_rx.try_recv() {
        events.push(event);
    }
    let expected: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.changed && e.decision != "complete" && e.decision != "noop")
        .map(|e| (e.decision.clone(), e.reason.clone()))
        .collect();
    assert!(
        expected.iter().any(|(kind, _)| kind == "promote"),
        "the rollout was promoted: {expected:?}"
    );
    assert!(
        events.iter().any(|e| !e.changed),
        "some decisions repeated (and must not be sent)"
    );
    let received = received.lock().expect("receiver lock").clone();
    let got: Vec<(String, String)> = received
        .iter()
        .map(|body| {
            (
                body["decision"].as_str().unwrap_or_default().to_string(),
                body["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got, expected,
        "one notification per changed decision, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_is_served_under_the_read_token() {
    let daemon = Daemon::start(&[("my-ep.yaml", policy(SLOW))], &[]).await;
    daemon.wait_for_green(5).await;
    let page = daemon
        .http
        .get(format!("{}/", daemon.base))
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status().as_u16(), 401, "no token: refused");
    let page = daemon
        .http
        .get(format!("{}/?token={READ_TOKEN}", daemon.base))
        .send()
        .await
        .expect("GET /?token");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("page body");
    assert!(html.contains("<html"), "{html}");
    let (status, list) = daemon
        .request(
            reqwest::Method::GET,
            "/ui/data/rollouts",
            Some(READ_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert!(list.to_string().contains("green"), "{list}");
    daemon.stop().await;
}
