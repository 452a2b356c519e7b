//! The metrics sources against the in-process emulator, through the real clients: the real
//! `azure_identity` ManagedIdentityCredential (IDENTITY_ENDPOINT + IDENTITY_HEADER on
//! loopback), real HTTP, the emulator's KQL and metrics API. Every expected number is computed
//! independently from the emulator's own rows (`state.logs.snapshot()`).

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_emulator::faults::Fault;
use azure_emulator::{Clock, EmulatorOptions, RunningEmulator, Scenario};
use canaryd::azure::log_analytics::LogAnalyticsClient;
use canaryd::azure::monitor::MetricsClient;
use canaryd::azure::{ARM_SCOPE, AzureError, AzureHttp, LOG_ANALYTICS_SCOPE, RetryPolicy};
use canaryd::config::AzureConfig;
use canaryd::judge::histogram::LogBuckets;
use canaryd::judge::observation::ArmObservation;
use canaryd::model::EndpointRef;
use canaryd::policy::SourceSpec;
use canaryd::source::{
    Freshness, MetricsSource, SourceError, WindowObservation, WindowRequest, default_buckets,
};
use time::OffsetDateTime;
use time::macros::datetime;

/// `IDENTITY_ENDPOINT` / `IDENTITY_HEADER` are process-global and the credential reads them
/// when built and on every token request it does not answer from its cache: each test holds
/// this lock from setting them until it is done.
static IDENTITY_ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
const WORKSPACE_ID: &str = "5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11";
const EMULATOR_INGESTION_DELAY_S: i64 = 60;

/// `my-ep`: blue 80 % / green 20 % with every error kind, a shadow copying 10 % (its rows
/// must not count), and at 7 min someone moves all traffic to blue. `other-ep` in the same
/// workspace also has a `blue` (its rows must not count either).
const SCENARIO: &str = r#"
seed: 7
settings: {ingestion_delay_s: 60}
endpoints:
  - name: my-ep
    traffic: {blue: 80, green: 20}
    mirror_traffic: {shadow: 10}
    rate: {steady: {rps: 30}}
    deployments:
      - name: blue
        latency: {median_ms: 40, sigma: 0.5}
        error_rate_5xx: 0.01
        model_error_rate: 0.01
        throttle: {rate: 0.01, delay_ms: 200}
      - name: green
        latency: {median_ms: 60, sigma: 0.5}
        error_rate_5xx: 0.03
        model_error_rate: 0.04
        throttle: {rate: 0.02, delay_ms: 200}
      - name: shadow
        latency: {median_ms: 30, sigma: 0.2}
  - name: other-ep
    traffic: {blue: 100}
    rate: {steady: {rps: 10}}
    deployments:
      - name: blue
        latency: {median_ms: 500, sigma: 0.2}
        error_rate_5xx: 0.2
faults:
  - at_s: 420
    fault: {kind: outside_traffic_change, endpoint: my-ep, traffic: {blue: 100}}
"#;

struct Fixture {
    emu: RunningEmulator,
    credential: Arc<dyn TokenCredential>,
    azure: AzureConfig,
    _env: tokio::sync::MutexGuard<'static, ()>,
}

/// Starts the emulator on a manual clock at T0, generates ten minutes of traffic, and builds
/// the daemon's credential the way the daemon does (`build_credential`, managed identity).
async fn fixture() -> Fixture {
    let env = IDENTITY_ENV.lock().await;
    let scenario = Scenario::from_yaml_str(SCENARIO).expect("test scenario parses");
    let emu = azure_emulator::start(EmulatorOptions {
        clock: Clock::manual(T0),
        scenario: Some(scenario),
        ..EmulatorOptions::default()
    })
    .await
    .expect("the emulator starts on loopback");
    // SAFETY: every reader and writer of these variables in this test binary holds IDENTITY_ENV.
    unsafe {
        std::env::set_var(
            "IDENTITY_ENDPOINT",
            format!("{}{}", emu.base_url(), azure_emulator::IDENTITY_PATH),
        );
        std::env::set_var("IDENTITY_HEADER", &emu.state.identity_header);
    }
    let credential = canaryd::azure::credential::build_credential(&Default::default())
        .expect("the managed identity credential builds");
    emu.state.clock.advance(time::Duration::minutes(10));
    azure_emulator::generator::catch_up(&emu.state);
    let base = emu.base_url();
    let azure = AzureConfig {
        arm_base_url: base.clone(),
        log_analytics_base_url: base.clone(),
        metrics_base_url: base,
        ..AzureConfig::default()
    };
    Fixture {
        emu,
        credential,
        azure,
        _env: env,
    }
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

impl Fixture {
    fn la_source(&self, query: Option<&str>) -> Result<MetricsSource, SourceError> {
        MetricsSource::from_spec_with_retry(
            &SourceSpec::LogAnalytics {
                workspace_id: WORKSPACE_ID.into(),
                ingestion_delay: Duration::from_secs(120),
                query: query.map(str::to_string),
            },
            &self.azure,
            self.credential.clone(),
            fast_retry(3),
        )
    }

    fn monitor_source(&self) -> MetricsSource {
        MetricsSource::from_spec_with_retry(
            &SourceSpec::AzureMonitor {
                ingestion_delay: Duration::from_secs(120),
            },
            &self.azure,
            self.credential.clone(),
            fast_retry(3),
        )
        .expect("an Azure Monitor source builds")
    }

    fn inject(&self, fault: Fault) {
        self.emu.state.inject_fault(&fault).expect("fault accepted");
    }
}

fn endpoint() -> EndpointRef {
    EndpointRef {
        subscription: "00000000-0000-4000-8000-000000000001".into(),
        resource_group: "canary-rg".into(),
        workspace: "canary-ws".into(),
        endpoint: "my-ep".into(),
    }
}

fn window(start: OffsetDateTime, end: OffsetDateTime) -> WindowRequest {
    WindowRequest {
        endpoint: endpoint(),
        baseline: "blue".into(),
        canary: "green".into(),
        start,
        end,
        buckets: default_buckets(),
        baseline_expected: true,
    }
}

/// One request as the test reads it from the emulator's store.
struct Row {
    time_us: i64,
    deployment: String,
    code: u16,
    model_code: u16,
    ms: u32,
}

/// `my-ep`'s rows, straight from the log store.
fn rows_of_my_ep(emu: &RunningEmulator) -> Vec<Row> {
    let snapshot = emu.state.logs.snapshot();
    snapshot
        .rows()
        .filter(|r| {
            snapshot
                .endpoint(r.endpoint)
                .is_some_and(|e| e.endpoint_name == "my-ep")
        })
        .map(|r| Row {
            time_us: r.time_us,
            deployment: snapshot.string(r.deployment).to_string(),
            code: r.response_code,
            model_code: r.model_status_code,
            ms: r.total_duration_ms,
        })
        .collect()
}

/// The expected arm, computed from rows: the error kinds as documented (a model error is
/// ModelStatusCode ≥ 500; else 429 is throttling; else a ResponseCode ≥ 500 is a gateway error).
fn expected_arm(
    rows: &[Row],
    deployment: &str,
    start: OffsetDateTime,
    end: OffsetDateTime,
    buckets: &LogBuckets,
) -> ArmObservation {
    let (from, to) = (micros(start), micros(end));
    let mut arm = ArmObservation {
        latency: vec![0.0; buckets.len()],
        ..ArmObservation::default()
    };
    for row in rows
        .iter()
        .filter(|r| r.deployment == deployment && r.time_us >= from && r.time_us < to)
    {
        arm.requests += 1;
        arm.latency[buckets.index_of(f64::from(row.ms))] += 1.0;
        if row.model_code >= 500 {
            arm.model_errors += 1;
        } else if row.code == 429 {
            arm.throttled += 1;
        } else if row.code >= 500 {
            arm.errors_5xx += 1;
        }
    }
    arm
}

fn micros(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1000) as i64
}

fn minute(m: i64) -> OffsetDateTime {
    T0 + time::Duration::minutes(m)
}

fn assert_matches_rows(observed: &WindowObservation, rows: &[Row], request: &WindowRequest) {
    let obs = &observed.observation;
    let baseline = expected_arm(rows, "blue", request.start, request.end, &request.buckets);
    let canary = expected_arm(rows, "green", request.start, request.end, &request.buckets);
    assert_eq!(obs.baseline, baseline, "baseline counts and histogram");
    assert_eq!(obs.canary, canary, "canary counts and histogram");
    assert_eq!(obs.window_start_unix_s, request.start.unix_timestamp());
    assert_eq!(obs.window_end_unix_s, request.end.unix_timestamp());
    assert_eq!(
        observed.raw_counts["canary"]["requests"], canary.requests,
        "journal totals"
    );
}

#[tokio::test]
async fn log_analytics_window_equals_the_rows_and_freshness_is_told_apart() {
    let fx = fixture().await;
    let source = fx.la_source(None).expect("default source builds");
    let now = fx.emu.state.now();
    assert_eq!(
        source.closed_window_end(now),
        now - time::Duration::seconds(120)
    );
    let rows = rows_of_my_ep(&fx.emu);

    // Before the outside change: both deployments served, ingestion is far past the window.
    let request = window(minute(1), minute(6));
    let observed = source.observe(&request).await.expect("window observed");
    assert_eq!(
        observed.freshness,
        Freshness::Complete,
        "{}",
        observed.raw_counts
    );
    assert_matches_rows(&observed, &rows, &request);
    let canary = &observed.observation.canary;
    assert!(canary.requests > 1000, "{canary:?}");
    assert!(
        canary.errors_5xx > 0 && canary.model_errors > 0 && canary.throttled > 0,
        "every error kind is exercised: {canary:?}"
    );
    assert!(observed.query.contains("AmlOnlineEndpointTrafficLog"));
    assert!(
        observed
            .query
            .contains("datetime(2026-01-01T00:06:00.0000000Z)")
    );
    assert!(observed.series.is_empty());

    // After the change green serves nothing; ingestion has passed the window: no traffic.
    let quiet = window(
        minute(7) + time::Duration::seconds(30),
        minute(8) + time::Duration::seconds(30),
    );
    let observed = source.observe(&quiet).await.expect("window observed");
    assert_eq!(
        observed.freshness,
        Freshness::NoTraffic,
        "{}",
        observed.raw_counts
    );
    assert_eq!(observed.observation.canary.requests, 0);
    assert_matches_rows(&observed, &rows, &quiet);
    assert!(observed.observation.baseline.requests > 0);

    // A window ending after what has been ingested (now − 60 s): not ingested yet, no data.
    let early = window(
        minute(8) + time::Duration::seconds(30),
        minute(9) + time::Duration::seconds(30),
    );
    let observed = source.observe(&early).await.expect("window observed");
    assert_eq!(
        observed.freshness,
        Freshness::NotIngestedYet,
        "{}",
        observed.raw_counts
    );
    assert_eq!(
        observed.observation.baseline.requests, 0,
        "nothing reaches the judge"
    );
    let latest = observed.raw_counts["latest_ingested"]
        .as_str()
        .expect("latest ingested row reported");
    let latest = OffsetDateTime::parse(latest, &time::format_description::well_known::Rfc3339)
        .expect("ISO time");
    assert!(latest <= fx.emu.state.now() - time::Duration::seconds(EMULATOR_INGESTION_DELAY_S));
    assert!(latest < early.end);

    // Once time passes, the same window is complete (green has no traffic: no_traffic).
    fx.emu.state.clock.advance(time::Duration::minutes(2));
    azure_emulator::generator::catch_up(&fx.emu.state);
    let observed = source.observe(&early).await.expect("window observed");
    assert_eq!(observed.freshness, Freshness::NoTraffic);
    assert_matches_rows(&observed, &rows_of_my_ep(&fx.emu), &early);
}

#[tokio::test]
async fn log_analytics_failures_are_source_errors_never_data() {
    let fx = fixture().await;
    let source = fx.la_source(None).expect("default source builds");
    let request = window(minute(1), minute(6));
    let good = source
        .observe(&request)
        .await
        .expect("baseline observation");

    // A partial result (HTTP 200 with an error) is refused.
    fx.inject(Fault::LogAnalyticsPartial { count: 1 });
    let error = source
        .observe(&request)
        .await
        .expect_err("partial result refused");
    assert!(
        matches!(error, SourceError::PartialResult { .. }),
        "{error}"
    );

    // Two 503s are retried (attempt 3 of 3 succeeds) and the answer is the full one.
    fx.inject(Fault::LogAnalyticsError {
        status: 503,
        count: 2,
    });
    let retried = source.observe(&request).await.expect("retried to success");
    assert_eq!(retried.observation, good.observation);

    // A 503 that outlasts the retries is a transient source error naming the status.
    fx.inject(Fault::LogAnalyticsError {
        status: 503,
        count: 3,
    });
    let error = source.observe(&request).await.expect_err("persistent 503");
    assert!(
        matches!(
            &error,
            SourceError::Azure {
                error: AzureError::Status { status: 503, .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert!(error.to_string().contains("503"), "{error}");

    // Gateway timeout after the delay, exhausted retries: also an error.
    fx.inject(Fault::LogAnalyticsTimeout {
        count: 3,
        delay_ms: 1,
    });
    let error = source.observe(&request).await.expect_err("timeouts");
    assert!(
        matches!(
            &error,
            SourceError::Azure {
                error: AzureError::Status { status: 504, .. },
                ..
            }
        ),
        "{error:?}"
    );

    // A workspace nobody logs to: the service's 404, not an empty window.
    let unknown = MetricsSource::from_spec_with_retry(
        &SourceSpec::LogAnalytics {
            workspace_id: "00000000-0000-0000-0000-00000000dead".into(),
            ingestion_delay: Duration::from_secs(120),
            query: None,
        },
        &fx.azure,
        fx.credential.clone(),
        fast_retry(1),
    )
    .expect("builds");
    let error = unknown
        .observe(&request)
        .await
        .expect_err("unknown workspace");
    assert!(
        matches!(
            &error,
            SourceError::Azure {
                error: AzureError::Status { status: 404, .. },
                ..
            }
        ),
        "{error:?}"
    );

    // Nonsense requests never reach Azure.
    let mut same = request.clone();
    same.canary = "BLUE".into();
    assert!(matches!(
        source.observe(&same).await,
        Err(SourceError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn tokens_for_the_wrong_audience_are_refused() {
    let fx = fixture().await;
    let la_with_arm_token = LogAnalyticsClient::with_http(
        &fx.azure.log_analytics_base_url,
        AzureHttp::new(fx.credential.clone(), ARM_SCOPE, fast_retry(3)),
    );
    let error = la_with_arm_token
        .query(WORKSPACE_ID, "AmlOnlineEndpointTrafficLog | count", None)
        .await
        .expect_err("an ARM token on Log Analytics");
    assert!(
        matches!(error, AzureError::Unauthorized { .. }),
        "{error:?}"
    );

    let right = LogAnalyticsClient::new(
        &fx.azure.log_analytics_base_url,
        fx.credential.clone(),
        fast_retry(3),
    );
    let table = right
        .query(WORKSPACE_ID, "AmlOnlineEndpointTrafficLog | count", None)
        .await
        .expect("the Log Analytics token works");
    assert!(
        table
            .count(0, table.column("Count").expect("Count"))
            .expect("count")
            > Some(0)
    );

    let metrics_with_la_token = MetricsClient::with_http(
        &fx.azure.metrics_base_url,
        AzureHttp::new(fx.credential.clone(), LOG_ANALYTICS_SCOPE, fast_retry(3)),
    );
    let [query, _] = match fx.monitor_source() {
        MetricsSource::AzureMonitor(source) => source.queries_for(&window(minute(1), minute(2))),
        MetricsSource::LogAnalytics(_) => unreachable!("built as Azure Monitor"),
    };
    let error = metrics_with_la_token
        .get(&query)
        .await
        .expect_err("a Log Analytics token on ARM");
    assert!(
        matches!(error, AzureError::Unauthorized { .. }),
        "{error:?}"
    );
}

/// Written differently from the default (no `let`, codes compared directly) but meeting the
/// same contract: it must give the same observation.
const CUSTOM_QUERY: &str = r#"AmlOnlineEndpointTrafficLog
| where TimeGenerated >= {start} and EndpointName == {endpoint}
| extend Counted = TimeGenerated < {end} and (DeploymentName == {baseline} or DeploymentName == {canary})
| summarize n = countif(Counted),
    errors_5xx = countif(Counted and ResponseCode >= 500 and ModelStatusCode < 500),
    model_errors = countif(Counted and ModelStatusCode >= 500),
    throttled = countif(Counted and ResponseCode == 429 and ModelStatusCode < 500),
    latest = max(TimeGenerated)
    by DeploymentName = iff(Counted, DeploymentName, ""), bucket = iff(Counted, {bucket}, -1)"#;

/// The example of daemon/docs/sources.md ("Custom query"): model time only, 503 only.
const DOCUMENTED_EXAMPLE: &str = r#"AmlOnlineEndpointTrafficLog
| where TimeGenerated >= {start} and EndpointName =~ {endpoint}
| extend In = TimeGenerated < {end} and DeploymentName in~ {deployments}
| extend ModelError = toint(ModelStatusCode) >= 500
| summarize n = countif(In),
    errors_5xx = countif(In and not(ModelError) and toint(ResponseCode) == 503),
    model_errors = countif(In and ModelError),
    throttled = countif(In and not(ModelError) and toint(ResponseCode) == 429),
    latest = max(TimeGenerated)
    by DeploymentName = iff(In, tolower(DeploymentName), ""), bucket = iff(In, {bucket:ResponseDurationMs}, -1)"#;

#[tokio::test]
async fn custom_queries_follow_the_column_contract() {
    let fx = fixture().await;
    let request = window(minute(1), minute(6));
    let rows = rows_of_my_ep(&fx.emu);

    let custom = fx
        .la_source(Some(CUSTOM_QUERY))
        .expect("custom query accepted");
    let observed = custom
        .observe(&request)
        .await
        .expect("custom window observed");
    assert_eq!(observed.freshness, Freshness::Complete);
    assert_matches_rows(&observed, &rows, &request);
    assert!(
        observed.query.contains("EndpointName == \"my-ep\""),
        "{}",
        observed.query
    );

    // The documented example: the same requests, only 503 as gateway errors.
    let example = fx
        .la_source(Some(DOCUMENTED_EXAMPLE))
        .expect("example accepted");
    let observed = example.observe(&request).await.expect("example observed");
    let green_503 = rows
        .iter()
        .filter(|r| {
            r.deployment == "green"
                && r.code == 503
                && r.time_us >= micros(request.start)
                && r.time_us < micros(request.end)
        })
        .count() as u64;
    let expected = expected_arm(&rows, "green", request.start, request.end, &request.buckets);
    assert_eq!(observed.observation.canary.requests, expected.requests);
    assert_eq!(
        observed.observation.canary.model_errors,
        expected.model_errors
    );
    assert_eq!(observed.observation.canary.errors_5xx, green_503);
    assert!(green_503 > 0 && green_503 < expected.errors_5xx);

    // A typo in a placeholder is refused when the source is built.
    let error = fx
        .la_source(Some(&CUSTOM_QUERY.replace("{canary}", "{canray}")))
        .expect_err("unknown placeholder");
    assert!(error.to_string().contains("{canray}"), "{error}");

    // A missing column, an extra column, rows of other deployments: errors, not data.
    let no_latest = CUSTOM_QUERY.replace(",\n    latest = max(TimeGenerated)", "");
    let error = fx
        .la_source(Some(&no_latest))
        .expect("placeholders fine")
        .observe(&request)
        .await
        .expect_err("missing column");
    assert!(
        error.to_string().contains("missing column latest"),
        "{error}"
    );

    let extra = CUSTOM_QUERY.replace(
        "latest = max(TimeGenerated)",
        "latest = max(TimeGenerated), p99 = percentile(TotalDurationMs, 99)",
    );
    let error = fx
        .la_source(Some(&extra))
        .expect("placeholders fine")
        .observe(&request)
        .await
        .expect_err("extra column");
    assert!(
        error.to_string().contains("unexpected column(s) p99"),
        "{error}"
    );

    let all_deployments = CUSTOM_QUERY.replace(
        " and (DeploymentName == {baseline} or DeploymentName == {canary})",
        "",
    );
    let error = fx
        .la_source(Some(&all_deployments))
        .expect("placeholders fine")
        .observe(&request)
        .await
        .expect_err("the shadow's rows");
    assert!(
        matches!(&error, SourceError::UnknownDeployment { found, .. } if found == "shadow"),
        "{error}"
    );

    // A query Log Analytics rejects: its error code and message, not an empty window.
    let error = fx
        .la_source(Some(
            &CUSTOM_QUERY.replace("countif(Counted)", "countif(Countd)"),
        ))
        .expect("placeholders fine")
        .observe(&request)
        .await
        .expect_err("semantic error");
    assert!(
        matches!(&error, SourceError::Azure { error: AzureError::Status { status: 400, code, .. }, .. } if code == "BadArgumentError"),
        "{error:?}"
    );
    assert!(error.to_string().contains("Countd"), "{error}");
}

#[tokio::test]
async fn azure_monitor_series_and_counts_equal_the_rows() {
    let fx = fixture().await;
    let source = fx.monitor_source();
    assert!(source.judges_by_series());
    let now = fx.emu.state.now() + time::Duration::seconds(42);
    assert_eq!(source.closed_window_end(now), minute(8));

    let request = window(minute(1), minute(6));
    let observed = source
        .observe(&request)
        .await
        .expect("metrics window observed");
    let rows = rows_of_my_ep(&fx.emu);
    assert_eq!(observed.freshness, Freshness::Complete);
    assert!(
        observed.query.contains("metricnames=RequestLatency"),
        "{}",
        observed.query
    );

    // The same counts as the request log gives (no histogram from per-minute metrics).
    for (arm, deployment) in [
        (&observed.observation.baseline, "blue"),
        (&observed.observation.canary, "green"),
    ] {
        let expected = expected_arm(
            &rows,
            deployment,
            request.start,
            request.end,
            &request.buckets,
        );
        assert_eq!(
            (
                arm.requests,
                arm.errors_5xx,
                arm.model_errors,
                arm.throttled
            ),
            (
                expected.requests,
                expected.errors_5xx,
                expected.model_errors,
                expected.throttled
            ),
            "{deployment}"
        );
        assert_eq!(arm.latency_count(), 0.0);
        assert_eq!(arm.latency.len(), request.buckets.len());
    }

    // Per minute: p99 (nearest rank), mean, requests and error rate of each arm.
    let series = |name: &str| {
        observed
            .series
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("series {name}"))
    };
    for (index, m) in (1..6).enumerate() {
        for (deployment, pick) in [("blue", 0), ("green", 1)] {
            let (from, to) = (micros(minute(m)), micros(minute(m + 1)));
            let in_minute: Vec<&Row> = rows
                .iter()
                .filter(|r| r.deployment == deployment && r.time_us >= from && r.time_us < to)
                .collect();
            let mut ms: Vec<u32> = in_minute.iter().map(|r| r.ms).collect();
            ms.sort_unstable();
            let rank = ((0.99 * ms.len() as f64).ceil() as usize).max(1);
            let p99 = f64::from(ms[rank - 1]);
            let mean = ms.iter().map(|v| f64::from(*v)).sum::<f64>() / ms.len() as f64;
            let errors = in_minute
                .iter()
                .filter(|r| r.model_code >= 500 || (r.code >= 500 && r.code != 429))
                .count() as f64;
            let point = |name: &str| {
                let s = series(name);
                if pick == 0 {
                    s.baseline[index]
                } else {
                    s.canary[index]
                }
            };
            assert_eq!(point("latency_p99"), p99, "{deployment} minute {m}");
            assert!(
                (point("latency_mean") - mean).abs() < 1e-9,
                "{deployment} minute {m}"
            );
            assert_eq!(point("requests"), in_minute.len() as f64);
            assert!(
                (point("error_rate") - errors / in_minute.len() as f64).abs() < 1e-12,
                "{deployment} minute {m}"
            );
        }
    }
    assert_eq!(series("latency_p50").canary.len(), 5);

    // After the outside change green has no points: no traffic, rates missing (NaN).
    let quiet = window(minute(7) + time::Duration::seconds(60), minute(9));
    let observed = source
        .observe(&quiet)
        .await
        .expect("metrics window observed");
    assert_eq!(observed.freshness, Freshness::NoTraffic);
    assert_eq!(observed.observation.canary.requests, 0);
    assert!(
        series_of(&observed, "error_rate")
            .canary
            .iter()
            .all(|v| v.is_nan())
    );

    // ARM faults: retried, then a source error when they outlast the retries.
    fx.inject(Fault::ArmError {
        status: 500,
        count: 1,
    });
    assert!(source.observe(&request).await.is_ok(), "one 500 is retried");
    fx.inject(Fault::ArmThrottle {
        count: 3,
        retry_after_s: 0,
    });
    let error = source
        .observe(&request)
        .await
        .expect_err("throttled throughout");
    assert!(
        matches!(&error, SourceError::Azure { error, .. } if error.is_throttled()),
        "{error:?}"
    );
}

fn series_of<'a>(
    observed: &'a WindowObservation,
    name: &str,
) -> &'a canaryd::judge::kayenta::MetricSeries {
    observed
        .series
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("series {name}"))
}
