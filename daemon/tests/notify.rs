//! Outgoing notifications against a local webhook receiver (axum): one message per changed
//! decision, in order; the three body formats; retries; `send` never waits on a receiver;
//! configuration errors name the field; secret URLs never reach the logs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use canaryd::config::DaemonConfig;
use canaryd::model::Split;
use canaryd::notify::{Notifier, NotifyConfig, NotifyError, WebhookConfig, WebhookFormat};
use canaryd::runner::{ArmFigures, RunnerEvent, WindowFigures};
use serde_json::{Value, json};

/// What the receiver does with the n-th request (0-based) on a path.
type Behaviour = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

#[derive(Clone)]
enum Reply {
    Status(StatusCode),
    StatusRetryAfter(StatusCode, &'static str),
    /// Never answers.
    Hang,
}

struct Received {
    path: String,
    content_type: String,
    body: Value,
    at: Instant,
}

#[derive(Clone)]
struct Receiver {
    behaviour: Behaviour,
    /// Accepted requests in arrival order.
    received: Arc<Mutex<Vec<Received>>>,
    attempts: Arc<AtomicUsize>,
    base: String,
}

impl Receiver {
    async fn start(behaviour: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("local address");
        let receiver = Receiver {
            behaviour: Arc::new(behaviour),
            received: Arc::default(),
            attempts: Arc::default(),
            base: format!("http://{address}"),
        };
        let app = Router::new()
            .route("/hook/{name}", post(handle))
            .with_state(receiver.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        receiver
    }

    fn url(&self, name: &str) -> String {
        format!("{}/hook/{name}", self.base)
    }

    fn bodies(&self, path: &str) -> Vec<Value> {
        self.received
            .lock()
            .expect("receiver lock")
            .iter()
            .filter(|received| received.path == path)
            .map(|received| received.body.clone())
            .collect()
    }
}

async fn handle(
    State(receiver): State<Receiver>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let attempt = receiver.attempts.fetch_add(1, Ordering::SeqCst);
    match (receiver.behaviour)(attempt) {
        Reply::Hang => std::future::pending::<Response>().await,
        Reply::Status(status) if status.is_success() => {
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body: Value = serde_json::from_str(&body).expect("the notifier posts JSON");
            receiver
                .received
                .lock()
                .expect("receiver lock")
                .push(Received {
                    path: name,
                    content_type,
                    body,
                    at: Instant::now(),
                });
            status.into_response()
        }
        Reply::Status(status) => status.into_response(),
        Reply::StatusRetryAfter(status, after) => {
            (status, [("retry-after", after)]).into_response()
        }
    }
}

fn webhook(
    name: &str,
    format: WebhookFormat,
    url: String,
    decisions: Option<&[&str]>,
) -> WebhookConfig {
    let mut hook: WebhookConfig = serde_json::from_value(json!({
        "name": name,
        "format": format,
        "url": url,
    }))
    .expect("a valid webhook");
    hook.decisions = decisions.map(|list| {
        list.iter()
            .map(|d| serde_json::from_value(json!(d)).expect("a valid decision filter"))
            .collect()
    });
    hook
}

/// Fast retries for tests.
fn config(webhooks: Vec<WebhookConfig>) -> NotifyConfig {
    NotifyConfig {
        webhooks,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        ..NotifyConfig::default()
    }
}

fn start(config: &NotifyConfig) -> Notifier {
    Notifier::start(config)
        .expect("valid notify config")
        .expect("webhooks configured")
}

fn event(decision: &str, changed: bool, reason: &str) -> RunnerEvent {
    let mut traffic = BTreeMap::new();
    traffic.insert("blue".to_string(), 90);
    traffic.insert("green".to_string(), 10);
    RunnerEvent {
        at: "2026-11-22T06:00:00Z".into(),
        policy: "fraud-scorer".into(),
        endpoint: "ml-prod/fraud".into(),
        rollout_id: "r-42".into(),
        baseline: "blue".into(),
        canary: "green".into(),
        phase: "step 2".into(),
        traffic: Split {
            traffic,
            mirror: BTreeMap::new(),
        },
        canary_percent: 10,
        decision: decision.into(),
        reason: reason.into(),
        changed,
        verdict: Some("regressed".into()),
        window: Some(WindowFigures {
            window_start_unix_s: 1_795_327_200,
            window_end_unix_s: 1_795_327_500,
            baseline: ArmFigures {
                requests: 30_001,
                p50_ms: Some(41.5),
                p99_ms: Some(118.0),
                error_rate: Some(0.001),
            },
            canary: ArmFigures {
                requests: 3_412,
                p50_ms: Some(63.25),
                p99_ms: Some(240.0),
                error_rate: Some(0.0123),
            },
        }),
        terminal: false,
    }
}

const REASON: &str = "p99 latency: canary/baseline ratio 2.03, 95% CI [1.71, 2.40] > threshold 1.20 (n = 3,412 vs 30,001) <!channel> & co";

/// `actual` holds everything in `expected`: objects by key (extra keys allowed), arrays
/// element by element with the same length, scalars equal.
fn assert_shape(actual: &Value, expected: &Value, at: &str) {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => {
            for (key, value) in expected {
                let Some(found) = actual.get(key) else {
                    panic!("{at}: missing key `{key}` in {actual:?}");
                };
                assert_shape(found, value, &format!("{at}.{key}"));
            }
        }
        (Value::Array(actual), Value::Array(expected)) => {
            assert_eq!(
                actual.len(),
                expected.len(),
                "{at}: array length; got {actual:?}"
            );
            for (index, (a, e)) in actual.iter().zip(expected).enumerate() {
                assert_shape(a, e, &format!("{at}[{index}]"));
            }
        }
        (actual, expected) => assert_eq!(actual, expected, "{at}"),
    }
}

#[tokio::test]
async fn one_message_per_changed_decision_in_order() {
    let receiver = Receiver::start(|_| Reply::Status(StatusCode::OK)).await;
    let notifier = start(&config(vec![
        webhook(
            "everything",
            WebhookFormat::Generic,
            receiver.url("all"),
            Some(&["all"]),
        ),
        webhook(
            "default",
            WebhookFormat::Generic,
            receiver.url("default"),
            None,
        ),
        webhook(
            "rollbacks",
            WebhookFormat::Generic,
            receiver.url("rollbacks"),
            Some(&["roll_back", "fail"]),
        ),
    ]));
    // A rollout's decisions with repeats in between, as the runner emits them every interval.
    let script: &[(&str, bool)] = &[
        ("start", true),
        ("complete", true),
        ("hold", true),
        ("hold", false),
        ("hold", false),
        ("advance", true),
        ("complete", true),
        ("hold", true),
        ("hold", false),
        ("noop", false),
        ("roll back", true),
        ("hold", false),
        ("complete", true),
        ("noop", false),
    ];
    let mut queued = Vec::new();
    for (index, (decision, changed)) in script.iter().enumerate() {
        queued.push(notifier.send(&event(decision, *changed, &format!("reason #{index}"))));
    }
    notifier
        .flush(Duration::from_secs(10))
        .await
        .expect("every notification delivered");

    let changed: Vec<String> = script
        .iter()
        .enumerate()
        .filter(|(_, (_, changed))| *changed)
        .map(|(index, _)| format!("reason #{index}"))
        .collect();
    let reasons = |path: &str| -> Vec<(String, String)> {
        receiver
            .bodies(path)
            .iter()
            .map(|b| {
                (
                    b["decision"].as_str().unwrap_or_default().to_string(),
                    b["reason"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let all = reasons("all");
    assert_eq!(
        all.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
        changed,
        "one message per changed decision, in order, no repeats"
    );
    assert_eq!(
        reasons("default")
            .iter()
            .map(|(d, _)| d.as_str())
            .collect::<Vec<_>>(),
        ["start", "hold", "advance", "hold", "roll back"],
        "the default leaves out `complete`"
    );
    assert_eq!(
        reasons("rollbacks"),
        [("roll back".to_string(), "reason #10".to_string())]
    );
    // Repeats are not even queued.
    assert_eq!(queued[3], 0);
    assert_eq!(queued[0], 2);
    let stats = notifier.stats();
    assert_eq!(stats[0].delivered, changed.len() as u64);
    assert_eq!(stats[0].pending, 0);
    assert_eq!(
        (stats[0].failed, stats[0].dropped, stats[0].retries),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn each_format_carries_the_decision_and_its_numbers() {
    let receiver = Receiver::start(|_| Reply::Status(StatusCode::ACCEPTED)).await;
    let mut config = config(vec![
        webhook(
            "generic",
            WebhookFormat::Generic,
            receiver.url("generic"),
            None,
        ),
        webhook("teams", WebhookFormat::Teams, receiver.url("teams"), None),
        webhook("slack", WebhookFormat::Slack, receiver.url("slack"), None),
    ]);
    config.status_url = Some("https://canaryd.example.com/".into());
    let notifier = start(&config);
    assert_eq!(notifier.send(&event("roll back", true, REASON)), 3);
    notifier
        .flush(Duration::from_secs(10))
        .await
        .expect("delivered");
    let link = "https://canaryd.example.com/rollouts/r-42";
    for Received { content_type, .. } in receiver.received.lock().expect("lock").iter() {
        assert_eq!(content_type, "application/json");
    }

    let generic = receiver.bodies("generic");
    assert_eq!(generic.len(), 1);
    assert_shape(
        &generic[0],
        &json!({
            "text": format!("ml-prod/fraud: roll back — green vs blue (step 2, canary 10%): {REASON}"),
            "at": "2026-11-22T06:00:00Z",
            "policy": "fraud-scorer",
            "endpoint": "ml-prod/fraud",
            "rollout_id": "r-42",
            "baseline": "blue",
            "canary": "green",
            "phase": "step 2",
            "traffic": { "traffic": { "blue": 90, "green": 10 } },
            "canary_percent": 10,
            "decision": "roll back",
            "reason": REASON,
            "changed": true,
            "verdict": "regressed",
            "window": {
                "window_start_unix_s": 1_795_327_200,
                "window_end_unix_s": 1_795_327_500,
                "baseline": { "requests": 30_001, "p50_ms": 41.5, "p99_ms": 118.0, "error_rate": 0.001 },
                "canary": { "requests": 3_412, "p50_ms": 63.25, "p99_ms": 240.0, "error_rate": 0.0123 }
            },
            "terminal": false,
            "status_link": link
        }),
        "generic",
    );

    let teams = receiver.bodies("teams");
    assert_eq!(teams.len(), 1);
    assert_shape(
        &teams[0],
        &json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        { "type": "TextBlock", "text": "Roll back: ml-prod/fraud", "color": "Attention" },
                        { "type": "TextBlock", "text": "green vs blue · step 2" },
                        { "type": "TextBlock", "text": REASON, "wrap": true },
                        { "type": "FactSet", "facts": [
                            { "title": "Endpoint", "value": "ml-prod/fraud" },
                            { "title": "Canary vs baseline", "value": "green vs blue" },
                            { "title": "Decision", "value": "roll back" },
                            { "title": "Phase", "value": "step 2" },
                            { "title": "Traffic", "value": "blue=90% green=10% (canary 10%)" },
                            { "title": "Verdict", "value": "regressed" },
                            { "title": "Window", "value": "06:00:00–06:05:00 UTC" },
                            { "title": "Canary", "value": "3,412 requests, p50 63.2 ms, p99 240 ms, errors 1.23%" },
                            { "title": "Baseline", "value": "30,001 requests, p50 41.5 ms, p99 118 ms, errors 0.10%" },
                            { "title": "Policy", "value": "fraud-scorer" },
                            { "title": "Rollout", "value": "r-42" },
                            { "title": "At", "value": "2026-11-22T06:00:00Z" }
                        ]}
                    ],
                    "actions": [{ "type": "Action.OpenUrl", "url": link }]
                }
            }]
        }),
        "teams",
    );

    let slack = receiver.bodies("slack");
    assert_eq!(slack.len(), 1);
    let escaped = REASON
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert_shape(
        &slack[0],
        &json!({
            "text": format!("ml-prod/fraud: roll back — green vs blue (step 2, canary 10%): {escaped}"),
            "blocks": [
                { "type": "header", "text": { "type": "plain_text", "text": ":rotating_light: Roll back: ml-prod/fraud" } },
                { "type": "section", "text": { "type": "mrkdwn", "text": format!("*green* vs *blue* on `ml-prod/fraud`\n>{escaped}") } },
                { "type": "section", "fields": [
                    { "type": "mrkdwn", "text": "*Canary vs baseline*\ngreen vs blue" },
                    { "type": "mrkdwn", "text": "*Decision*\nroll back" },
                    { "type": "mrkdwn", "text": "*Phase*\nstep 2" },
                    { "type": "mrkdwn", "text": "*Traffic*\nblue=90% green=10% (canary 10%)" },
                    { "type": "mrkdwn", "text": "*Verdict*\nregressed" },
                    { "type": "mrkdwn", "text": "*Window*\n06:00:00–06:05:00 UTC" },
                    { "type": "mrkdwn", "text": "*Canary*\n3,412 requests, p50 63.2 ms, p99 240 ms, errors 1.23%" },
                    { "type": "mrkdwn", "text": "*Baseline*\n30,001 requests, p50 41.5 ms, p99 118 ms, errors 0.10%" }
                ]},
                { "type": "context", "elements": [
                    { "type": "mrkdwn", "text": "policy fraud-scorer · rollout r-42 · 2026-11-22T06:00:00Z" },
                    { "type": "mrkdwn", "text": format!("<{link}|Open in canaryd>") }
                ]}
            ]
        }),
        "slack",
    );
    // Slack markup in the reason cannot ping a channel.
    assert!(!slack[0].to_string().contains("<!channel>"));
}

#[tokio::test]
async fn no_status_link_without_a_status_url() {
    let receiver = Receiver::start(|_| Reply::Status(StatusCode::OK)).await;
    let notifier = start(&config(vec![
        webhook(
            "generic",
            WebhookFormat::Generic,
            receiver.url("generic"),
            None,
        ),
        webhook("teams", WebhookFormat::Teams, receiver.url("teams"), None),
    ]));
    notifier.send(&event("advance", true, "all checks safe"));
    notifier
        .flush(Duration::from_secs(10))
        .await
        .expect("delivered");
    assert!(receiver.bodies("generic")[0].get("status_link").is_none());
    assert!(
        receiver.bodies("teams")[0]["attachments"][0]["content"]
            .get("actions")
            .is_none()
    );
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_the_message_on_the_third_attempt() {
    let receiver = Receiver::start(|attempt| {
        if attempt < 2 {
            Reply::Status(StatusCode::SERVICE_UNAVAILABLE)
        } else {
            Reply::Status(StatusCode::OK)
        }
    })
    .await;
    let notifier = start(&config(vec![webhook(
        "flaky",
        WebhookFormat::Slack,
        receiver.url("flaky"),
        None,
    )]));
    notifier.send(&event("advance", true, "first"));
    notifier.send(&event("promote", true, "second"));
    notifier
        .flush(Duration::from_secs(10))
        .await
        .expect("delivered after retries");
    assert_eq!(receiver.attempts.load(Ordering::SeqCst), 4);
    let texts: Vec<String> = receiver
        .bodies("flaky")
        .iter()
        .map(|b| b["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(texts.len(), 2);
    assert!(
        texts[0].ends_with("first") && texts[1].ends_with("second"),
        "{texts:?}"
    );
    let stats = &notifier.stats()[0];
    assert_eq!((stats.delivered, stats.retries, stats.failed), (2, 2, 0));
}

#[tokio::test]
async fn retry_after_is_honoured_and_capped() {
    let receiver = Receiver::start(|attempt| match attempt {
        0 => Reply::StatusRetryAfter(StatusCode::TOO_MANY_REQUESTS, "1"),
        // An hour, capped at max_retry_after (1 s).
        1 => Reply::StatusRetryAfter(StatusCode::TOO_MANY_REQUESTS, "3600"),
        _ => Reply::Status(StatusCode::OK),
    })
    .await;
    let notifier = start(&config(vec![webhook(
        "throttled",
        WebhookFormat::Generic,
        receiver.url("throttled"),
        None,
    )]));
    let sent = Instant::now();
    notifier.send(&event("advance", true, "x"));
    notifier
        .flush(Duration::from_secs(10))
        .await
        .expect("delivered");
    let received = receiver.received.lock().expect("lock")[0].at;
    let took = received - sent;
    // 1 s + 1 s as asked and capped; backoff alone would have waited at most 10 + 20 ms.
    assert!(took >= Duration::from_millis(1950), "took {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(receiver.attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_unreachable_receivers_are_given_up() {
    let rejecting = Receiver::start(|_| Reply::Status(StatusCode::NOT_FOUND)).await;
    // A port that was free a moment ago: connections are refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address")
    };
    let mut config = config(vec![
        webhook("gone", WebhookFormat::Teams, rejecting.url("gone"), None),
        webhook(
            "down",
            WebhookFormat::Slack,
            format!("http://{closed}/services/x"),
            None,
        ),
    ]);
    config.max_attempts = 3;
    let notifier = start(&config);
    notifier.send(&event("fail", true, "x"));
    notifier
        .flush(Duration::from_secs(10))
        .await
        .expect("all settled");
    assert_eq!(rejecting.attempts.load(Ordering::SeqCst), 1);
    let stats = notifier.stats();
    assert_eq!(
        (stats[0].delivered, stats[0].failed, stats[0].retries),
        (0, 1, 0)
    );
    assert_eq!(
        (stats[1].delivered, stats[1].failed, stats[1].retries),
        (0, 1, 2)
    );
}

#[tokio::test]
async fn send_never_waits_for_a_hanging_receiver() {
    let hanging = Receiver::start(|_| Reply::Hang).await;
    let healthy = Receiver::start(|_| Reply::Status(StatusCode::OK)).await;
    let mut config = config(vec![
        webhook(
            "hangs",
            WebhookFormat::Generic,
            hanging.url("hangs"),
            Some(&["all"]),
        ),
        webhook(
            "healthy",
            WebhookFormat::Generic,
            healthy.url("healthy"),
            Some(&["all"]),
        ),
    ]);
    config.queue_capacity = 8;
    config.request_timeout = Duration::from_secs(60);
    let notifier = start(&config);

    // Wait until the hanging receiver holds the first request.
    notifier.send(&event("start", true, "#0"));
    let waiting_since = Instant::now();
    while hanging.attempts.load(Ordering::SeqCst) == 0 {
        assert!(
            waiting_since.elapsed() < Duration::from_secs(10),
            "first request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // 1,000 sends while that request hangs: each returns at once (this task never yields to
    // the delivery tasks, so nothing could have been posted or unblocked in between).
    let started = Instant::now();
    for index in 1..=1000 {
        assert_eq!(notifier.send(&event("hold", true, &format!("#{index}"))), 2);
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "1,000 sends took {took:?}");

    let stats = notifier.stats();
    // One in flight, eight queued, the oldest others dropped.
    assert_eq!(stats[0].pending, 9);
    assert_eq!(stats[0].dropped, 1000 - 8);
    assert_eq!(stats[0].delivered, 0);
    // A flush with a deadline reports what is left instead of hanging.
    match notifier.flush(Duration::from_millis(300)).await {
        Err(NotifyError::FlushTimeout { pending, .. }) => assert!(pending >= 9, "{pending}"),
        other => panic!("expected a flush timeout, got {other:?}"),
    }
    // The healthy webhook is not held up by the hanging one; its newest messages survive.
    let waiting_since = Instant::now();
    while notifier.stats()[1].pending > 0 {
        assert!(
            waiting_since.elapsed() < Duration::from_secs(10),
            "the healthy webhook is stuck"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(notifier.stats()[1].failed, 0);
    let healthy_bodies = healthy.bodies("healthy");
    let last = healthy_bodies
        .last()
        .expect("the healthy webhook received messages");
    assert_eq!(last["reason"], "#1000");
    assert_eq!(hanging.attempts.load(Ordering::SeqCst), 1);
}

#[test]
fn bad_configuration_names_the_field() {
    // Unknown format: rejected when the configuration is read.
    let error = DaemonConfig::from_toml_str(
        r#"
[[notify.webhooks]]
name = "ops"
format = "discord"
url = "https://hooks.example.com/x"
"#,
    )
    .expect_err("unknown format");
    let text = error.to_string();
    assert!(
        text.contains("discord") && text.contains("format"),
        "{text}"
    );
    assert!(
        text.contains("teams") && text.contains("slack"),
        "lists the formats: {text}"
    );

    // Unknown decision kind.
    let text = DaemonConfig::from_toml_str(
        r#"
[[notify.webhooks]]
name = "ops"
format = "slack"
url = "https://hooks.slack.com/services/T0/B0/abc"
decisions = ["rollback"]
"#,
    )
    .expect_err("unknown decision")
    .to_string();
    assert!(
        text.contains("decisions") && text.contains("'rollback'") && text.contains("roll_back"),
        "{text}"
    );

    // Unknown key in [notify].
    let text = DaemonConfig::from_toml_str("[notify]\nstatus_link = \"https://x\"\n")
        .expect_err("unknown key")
        .to_string();
    assert!(text.contains("status_link"), "{text}");

    let invalid = |config: NotifyConfig| -> (String, String) {
        match Notifier::start(&config) {
            Err(error @ NotifyError::Invalid { .. }) => {
                let NotifyError::Invalid { ref key, .. } = error else {
                    unreachable!()
                };
                (key.clone(), error.to_string())
            }
            Err(other) => panic!("expected an invalid-config error, got {other}"),
            Ok(_) => panic!("expected an invalid-config error, got a notifier"),
        }
    };
    let secret = "https//hooks.slack.com/services/T0/B0/SECRETTOKEN";
    let (key, text) = invalid(config(vec![
        webhook(
            "fine",
            WebhookFormat::Generic,
            "https://a.example/x".into(),
            None,
        ),
        webhook("ops", WebhookFormat::Slack, secret.into(), None),
    ]));
    assert_eq!(key, "notify.webhooks[1].url");
    assert!(
        text.contains("not a URL") && text.contains("fix:"),
        "{text}"
    );
    assert!(!text.contains("SECRETTOKEN"), "the URL is a secret: {text}");

    let (key, _) = invalid(config(vec![webhook(
        "ops",
        WebhookFormat::Teams,
        "ftp://files.example/x".into(),
        None,
    )]));
    assert_eq!(key, "notify.webhooks[0].url");

    let mut no_url = webhook(
        "ops",
        WebhookFormat::Teams,
        "https://a.example/x".into(),
        None,
    );
    no_url.url = None;
    assert_eq!(invalid(config(vec![no_url])).0, "notify.webhooks[0].url");

    let mut missing_file = webhook(
        "ops",
        WebhookFormat::Teams,
        "https://a.example/x".into(),
        None,
    );
    missing_file.url = None;
    missing_file.url_file = Some("/nonexistent/canaryd-webhook-url".into());
    assert_eq!(
        invalid(config(vec![missing_file])).0,
        "notify.webhooks[0].url_file"
    );

    let (key, _) = invalid(config(vec![webhook(
        "ops",
        WebhookFormat::Slack,
        "https://a.example/x".into(),
        Some(&[]),
    )]));
    assert_eq!(key, "notify.webhooks[0].decisions");

    let (key, _) = invalid(config(vec![
        webhook(
            "ops",
            WebhookFormat::Slack,
            "https://a.example/x".into(),
            None,
        ),
        webhook(
            "ops",
            WebhookFormat::Teams,
            "https://b.example/x".into(),
            None,
        ),
    ]));
    assert_eq!(key, "notify.webhooks[1].name");

    let mut bad_status = config(vec![webhook(
        "ops",
        WebhookFormat::Slack,
        "https://a.example/x".into(),
        None,
    )]);
    bad_status.status_url = Some("canaryd.example.com".into());
    assert_eq!(invalid(bad_status).0, "notify.status_url");

    let mut zero_queue = config(vec![webhook(
        "ops",
        WebhookFormat::Slack,
        "https://a.example/x".into(),
        None,
    )]);
    zero_queue.queue_capacity = 0;
    assert_eq!(invalid(zero_queue).0, "notify.queue_capacity");
}

#[tokio::test]
async fn a_full_configuration_parses_and_reads_the_url_file() {
    let receiver = Receiver::start(|_| Reply::Status(StatusCode::OK)).await;
    let url_file = std::env::temp_dir().join(format!("canaryd-notify-url-{}", std::process::id()));
    std::fs::write(&url_file, format!("{}\n", receiver.url("from-file"))).expect("write url file");
    let toml = format!(
        r#"
[notify]
status_url = "https://canaryd.example.com"
queue_capacity = 16
max_attempts = 2
request_timeout = "3s"
initial_backoff = "50ms"
max_backoff = "1s"

[[notify.webhooks]]
name = "ops-teams"
format = "teams"
url_file = "{}"
decisions = ["roll_back", "fail", "promote"]

[[notify.webhooks]]
name = "everything"
format = "generic"
url = "{}"
decisions = ["all"]
"#,
        url_file.display(),
        receiver.url("inline")
    );
    let daemon = DaemonConfig::from_toml_str(&toml).expect("valid configuration");
    let notify = &daemon.notify;
    assert_eq!(notify.queue_capacity, 16);
    assert_eq!(notify.max_attempts, 2);
    assert_eq!(notify.request_timeout, Duration::from_secs(3));
    assert_eq!(notify.initial_backoff, Duration::from_millis(50));
    assert_eq!(notify.webhooks.len(), 2);
    // The secret URL is not shown by Debug.
    let printed = format!("{:?}", notify.webhooks[1]);
    assert!(
        !printed.contains("/hook/inline") && printed.contains("redacted"),
        "{printed}"
    );

    let notifier = start(notify);
    notifier.send(&event("advance", true, "a"));
    notifier.send(&event("roll back", true, "b"));
    notifier
        .flush(Duration::from_secs(10))
        .await
        .expect("delivered");
    std::fs::remove_file(&url_file).ok();
    assert_eq!(receiver.bodies("from-file").len(), 1);
    assert_eq!(receiver.bodies("inline").len(), 2);

    // No webhooks: no notifier.
    assert!(
        Notifier::start(&DaemonConfig::default().notify)
            .expect("defaults are valid")
            .is_none()
    );
}

/// A `Write` into a shared buffer, for capturing logs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn webhook_urls_never_reach_the_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // A current-thread runtime: the delivery tasks log on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let flaky = Receiver::start(|attempt| {
        if attempt == 0 {
            Reply::Status(StatusCode::BAD_GATEWAY)
        } else {
            Reply::Status(StatusCode::OK)
        }
    })
    .await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address");
    let mut config = config(vec![
        webhook(
            "flaky",
            WebhookFormat::Slack,
            format!("{}?token=SECRETTOKEN1", flaky.url("T0-B0")),
            None,
        ),
        webhook(
            "down",
            WebhookFormat::Teams,
            format!("http://{closed}/workflows/SECRETTOKEN2/run"),
            None,
        ),
    ]);
    config.max_attempts = 2;
    let notifier = start(&config);
    notifier.send(&event("roll back", true, "x"));
    notifier
        .flush(Duration::from_secs(10))
        .await
        .expect("settled");
    let text = String::from_utf8(logs.0.lock().expect("log buffer").clone()).expect("utf-8 logs");
    assert!(
        text.contains("giving up") && text.contains("retrying"),
        "{text}"
    );
    assert!(
        text.contains(&closed.to_string()),
        "the host is logged: {text}"
    );
    assert!(
        !text.contains("SECRETTOKEN"),
        "a secret URL was logged: {text}"
    );
    assert!(!text.contains("/hook/"), "a URL path was logged: {text}");
}

#[tokio::test]
async fn dropping_the_notifier_stops_its_tasks() {
    let hanging = Receiver::start(|_| Reply::Hang).await;
    let mut config = config(vec![webhook(
        "hangs",
        WebhookFormat::Generic,
        hanging.url("hangs"),
        None,
    )]);
    config.request_timeout = Duration::from_millis(300);
    let notifier = start(&config);
    for index in 0..3 {
        notifier.send(&event("advance", true, &format!("#{index}")));
    }
    let waiting_since = Instant::now();
    while hanging.attempts.load(Ordering::SeqCst) == 0 {
        assert!(
            waiting_since.elapsed() < Duration::from_secs(10),
            "first request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(notifier);
    // Without the drop, the timed-out request would be retried within ~320 ms and the queued
    // messages posted after it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(hanging.attempts.load(Ordering::SeqCst), 1);
}

#[test]
fn a_decision_without_judge_or_window_leaves_their_facts_out() {
    use canaryd::notify::render;
    let mut start = event(
        "start",
        true,
        "starting green against blue: step 1/5 sends 5%",
    );
    start.verdict = None;
    start.window = None;
    start.phase = "pending".into();
    let teams = render(WebhookFormat::Teams, &start, None);
    let titles: Vec<&str> = teams["attachments"][0]["content"]["body"][3]["facts"]
        .as_array()
        .expect("a fact set")
        .iter()
        .filter_map(|fact| fact["title"].as_str())
        .collect();
    assert_eq!(
        titles,
        [
            "Endpoint",
            "Canary vs baseline",
            "Decision",
            "Phase",
            "Traffic",
            "Policy",
            "Rollout",
            "At"
        ]
    );
    let slack = render(WebhookFormat::Slack, &start, Some("https://c.example"));
    assert_eq!(
        slack["blocks"][2]["fields"].as_array().map(Vec::len),
        Some(4)
    );
    assert_eq!(
        slack["blocks"][0]["text"]["text"],
        ":large_blue_circle: Start: ml-prod/fraud"
    );
    assert_eq!(
        slack["blocks"][3]["elements"][1]["text"],
        "<https://c.example/rollouts/r-42|Open in canaryd>"
    );
    let generic = render(WebhookFormat::Generic, &start, None);
    assert_eq!(generic["window"], Value::Null);
    assert_eq!(generic["verdict"], Value::Null);
    assert_eq!(
        generic["text"],
        "ml-prod/fraud: start — green vs blue (pending, canary 10%): starting green against blue: step 1/5 sends 5%"
    );
}
