//! The Azure Monitor metrics API, checked against rows appended to the log store by the test.

mod common;

use azure_emulator::clock::rfc3339;
use azure_emulator::{ARM_RESOURCE, LOG_ANALYTICS_RESOURCE, RunningEmulator};
use common::*;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

/// Rows spread over the first four minutes of the window starting at `t0`:
/// (offset s, deployment, response code, model status code, total ms).
const ROWS: &[TestRow<'static>] = &[
    (1.0, "blue", 200, 200, 10),
    (12.0, "blue", 200, 200, 20),
    (30.0, "blue", 200, 200, 30),
    (59.0, "blue", 200, 200, 40),
    (5.0, "green", 200, 200, 100),
    (40.0, "green", 500, 500, 200),
    (61.0, "blue", 200, 200, 50),
    (90.0, "green", 503, 503, 300),
    (185.0, "blue", 429, 200, 5),
    (186.0, "blue", 429, 200, 15),
];

/// The window starts 30 minutes before the emulator's now, on a minute boundary.
fn t0(emu: &RunningEmulator) -> OffsetDateTime {
    emu.state.now() - Duration::minutes(30)
}

async fn setup() -> (RunningEmulator, String) {
    let emu = start_emulator(None, manual_clock()).await;
    seed_world(&emu, &[]);
    append_rows(&emu, t0(&emu), ROWS);
    let token = bearer(&emu, ARM_RESOURCE).await;
    (emu, token)
}

fn metrics_url(emu: &RunningEmulator, params: &[(&str, &str)]) -> reqwest::Url {
    let base = format!(
        "{}{}/providers/Microsoft.Insights/metrics",
        emu.base_url(),
        endpoint_path()
    );
    reqwest::Url::parse_with_params(&base, params).unwrap()
}

async fn query(emu: &RunningEmulator, token: &str, params: &[(&str, &str)]) -> reqwest::Response {
    http()
        .get(metrics_url(emu, params))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn query_ok(emu: &RunningEmulator, token: &str, params: &[(&str, &str)]) -> Value {
    let r = query(emu, token, params).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

fn nearest_rank(values: &mut [u32], p: f64) -> f64 {
    values.sort_unstable();
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    f64::from(values[rank.max(1) - 1])
}

/// Durations of `deployment` in minute `m` of the window, from [`ROWS`].
fn minute_durations(deployment: &str, m: usize) -> Vec<u32> {
    ROWS.iter()
        .filter(|r| r.1 == deployment && (r.0 / 60.0).floor() as usize == m)
        .map(|r| r.4)
        .collect()
}

fn series<'a>(metric: &'a Value, dimension_value: &str) -> &'a Value {
    metric["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["metadatavalues"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["value"] == dimension_value)
        })
        .unwrap_or_else(|| panic!("no series for {dimension_value}: {metric}"))
}

fn window(emu: &RunningEmulator, minutes: i64) -> String {
    let start = t0(emu);
    format!(
        "{}/{}",
        rfc3339(start),
        rfc3339(start + Duration::minutes(minutes))
    )
}

#[tokio::test]
async fn percentiles_per_minute_split_by_deployment() {
    let (emu, token) = setup().await;
    let timespan = window(&emu, 5);
    let body = query_ok(
        &emu,
        &token,
        &[
            ("api-version", "2024-02-01"),
            ("metricnames", "RequestLatency_P50,RequestLatency_P99"),
            ("timespan", &timespan),
            ("interval", "PT1M"),
            ("aggregation", "Average"),
            ("$filter", "deployment eq '*'"),
        ],
    )
    .await;
    assert_eq!(body["interval"], "PT1M");
    assert_eq!(body["timespan"], timespan);
    assert_eq!(
        body["namespace"],
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
    );
    let value = body["value"].as_array().unwrap();
    assert_eq!(value.len(), 2);
    for (metric, p) in value.iter().zip([50.0, 99.0]) {
        assert_eq!(metric["type"], "Microsoft.Insights/metrics");
        assert_eq!(metric["unit"], "MilliSeconds");
        assert_eq!(metric["errorCode"], "Success");
        assert!(metric["id"].as_str().unwrap().ends_with(&format!(
            "/providers/Microsoft.Insights/metrics/{}",
            metric["name"]["value"].as_str().unwrap()
        )));
        assert_eq!(metric["timeseries"].as_array().unwrap().len(), 2);
        for deployment in ["blue", "green"] {
            let s = series(metric, deployment);
            assert_eq!(s["metadatavalues"][0]["name"]["value"], "deployment");
            let data = s["data"].as_array().unwrap();
            assert_eq!(data.len(), 5, "one point per minute");
            for (m, point) in data.iter().enumerate() {
                assert_eq!(
                    point["timeStamp"],
                    rfc3339(t0(&emu) + Duration::minutes(m as i64))
                );
                let mut durations = minute_durations(deployment, m);
                if durations.is_empty() {
                    assert_eq!(point.as_object().unwrap().len(), 1, "empty bucket: {point}");
                } else {
                    let expected = nearest_rank(&mut durations, p);
                    assert_eq!(
                        point["average"].as_f64(),
                        Some(expected),
                        "{deployment} m{m} p{p}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn requests_per_minute_by_status_class_and_coarser_intervals() {
    let (emu, token) = setup().await;
    let timespan = window(&emu, 5);
    let body = query_ok(
        &emu,
        &token,
        &[
            ("api-version", "2024-02-01"),
            ("metricnames", "RequestsPerMinute"),
            ("timespan", &timespan),
            ("interval", "PT5M"),
            ("aggregation", "Total,Count,Maximum"),
            (
                "$filter",
                "Deployment eq 'green' and statuscodeclass eq '*'",
            ),
        ],
    )
    .await;
    let metric = &body["value"][0];
    assert_eq!(metric["unit"], "Count");
    let timeseries = metric["timeseries"].as_array().unwrap();
    assert_eq!(timeseries.len(), 2, "green: 2xx and 5xx");
    let green_5xx = ROWS.iter().filter(|r| r.1 == "green" && r.2 >= 500).count();
    let s = series(metric, "5xx");
    assert_eq!(s["metadatavalues"].as_array().unwrap().len(), 2);
    let point = &s["data"][0];
    assert_eq!(point["total"].as_f64(), Some(green_5xx as f64));
    assert_eq!(point["count"].as_f64(), Some(2.0), "two minutes had 5xx");
    assert_eq!(point["maximum"].as_f64(), Some(1.0));

    // All requests, no split: one series; the per-minute counts add up to the rows.
    let body = query_ok(
        &emu,
        &token,
        &[
            ("api-version", "2024-02-01"),
            ("metricnames", "requestsperminute"),
            ("timespan", &timespan),
            ("aggregation", "Total"),
        ],
    )
    .await;
    let timeseries = body["value"][0]["timeseries"].as_array().unwrap();
    assert_eq!(timeseries.len(), 1);
    assert_eq!(timeseries[0]["metadatavalues"], serde_json::json!([]));
    let total: f64 = timeseries[0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["total"].as_f64())
        .sum();
    assert_eq!(total, ROWS.len() as f64);

    // A specific status code.
    let body = query_ok(
        &emu,
        &token,
        &[
            ("api-version", "2024-02-01"),
            ("metricnames", "RequestsPerMinute"),
            ("timespan", &timespan),
            ("interval", "FULL"),
            ("aggregation", "Total"),
            ("$filter", "statusCode eq '429'"),
        ],
    )
    .await;
    let s = &body["value"][0]["timeseries"][0];
    assert_eq!(s["metadatavalues"][0]["value"], "429");
    let throttled = ROWS.iter().filter(|r| r.2 == 429).count() as f64;
    assert_eq!(s["data"][0]["total"].as_f64(), Some(throttled));
}

#[tokio::test]
async fn request_latency_aggregates_requests_and_recent_rows_are_not_yet_visible() {
    let (emu, token) = setup().await;
    // A row 30 s ago is still inside the 60 s ingestion delay.
    append_rows(
        &emu,
        emu.state.now() - Duration::seconds(30),
        &[(0.0, "blue", 200, 200, 999)],
    );
    let timespan = format!("{}/{}", rfc3339(t0(&emu)), rfc3339(emu.state.now()));
    let body = query_ok(
        &emu,
        &token,
        &[
            ("api-version", "2024-02-01"),
            ("metricnames", "RequestLatency"),
            ("timespan", &timespan),
            ("interval", "FULL"),
            ("aggregation", "Average,Maximum,Count"),
            ("$filter", "deployment eq 'blue'"),
        ],
    )
    .await;
    let point = &body["value"][0]["timeseries"][0]["data"][0];
    let blue: Vec<f64> = ROWS
        .iter()
        .filter(|r| r.1 == "blue")
        .map(|r| f64::from(r.4))
        .collect();
    let mean = blue.iter().sum::<f64>() / blue.len() as f64;
    assert_eq!(point["count"].as_f64(), Some(blue.len() as f64));
    assert!((point["average"].as_f64().unwrap() - mean).abs() < 1e-9);
    assert_eq!(
        point["maximum"].as_f64(),
        Some(50.0),
        "the 999 ms row is not ingested yet"
    );

    advance(&emu, 60.0).await;
    let timespan = format!("{}/{}", rfc3339(t0(&emu)), rfc3339(emu.state.now()));
    let body = query_ok(
        &emu,
        &token,
        &[
            ("api-version", "2024-02-01"),
            ("metricnames", "RequestLatency"),
            ("timespan", &timespan),
            ("interval", "FULL"),
            ("aggregation", "Maximum"),
            ("$filter", "deployment eq 'blue'"),
        ],
    )
    .await;
    assert_eq!(
        body["value"][0]["timeseries"][0]["data"][0]["maximum"].as_f64(),
        Some(999.0)
    );
}

#[tokio::test]
async fn bad_requests_are_refused_in_the_error_shape() {
    let (emu, token) = setup().await;
    let timespan = window(&emu, 5);
    let too_many = vec!["RequestsPerMinute"; 21].join(",");
    // Every case is a 400 with this error code.
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("api-version", "2024-02-01"),
                ("metricnames", "CpuBananas"),
                ("timespan", &timespan),
            ],
            "BadRequest",
        ),
        (
            vec![
                ("api-version", "2024-02-01"),
                ("metricnames", &too_many),
                ("timespan", &timespan),
            ],
            "BadRequest",
        ),
        (
            vec![
                ("api-version", "2024-02-01"),
                ("metricnames", "RequestLatency_P99"),
                ("$filter", "statusCode eq '*'"),
            ],
            "BadRequest",
        ),
        (
            vec![
                ("api-version", "2024-02-01"),
                ("metricnames", "RequestLatency_P99"),
                ("interval", "PT7M"),
            ],
            "BadRequest",
        ),
        (
            vec![
                ("api-version", "2024-02-01"),
                ("metricnames", "RequestLatency_P99"),
                ("timespan", "yesterday"),
            ],
            "BadRequest",
        ),
        (
            vec![
                ("api-version", "2024-02-01"),
                ("metricnames", "RequestLatency_P99"),
                ("aggregation", "Median"),
            ],
            "BadRequest",
        ),
        (
            vec![
                ("api-version", "2025-12-01"),
                ("metricnames", "RequestLatency_P99"),
            ],
            "InvalidApiVersionParameter",
        ),
        (
            vec![("metricnames", "RequestLatency_P99")],
            "MissingApiVersionParameter",
        ),
    ];
    for (params, code) in cases {
        let r = query(&emu, &token, &params).await;
        assert_eq!(r.status(), 400, "{params:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{params:?}: {body}");
        assert!(body["error"]["message"].is_string());
    }
    // 20 names are fine.
    let twenty = vec!["RequestsPerMinute"; 20].join(",");
    let r = query(
        &emu,
        &token,
        &[
            ("api-version", "2024-02-01"),
            ("metricnames", &twenty),
            ("timespan", &timespan),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn metrics_need_an_arm_token() {
    let (emu, _token) = setup().await;
    let la = bearer(&emu, LOG_ANALYTICS_RESOURCE).await;
    let r = query(
        &emu,
        &la,
        &[
            ("api-version", "2024-02-01"),
            ("metricnames", "RequestsPerMinute"),
        ],
    )
    .await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationTokenAudience");
    let r = http()
        .get(metrics_url(
            &emu,
            &[
                ("api-version", "2024-02-01"),
                ("metricnames", "RequestsPerMinute"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn deployment_metrics_cover_only_that_deployment() {
    let (emu, token) = setup().await;
    let timespan = window(&emu, 5);
    let base = format!(
        "{}{}/deployments/green/providers/Microsoft.Insights/metrics",
        emu.base_url(),
        endpoint_path()
    );
    let u = reqwest::Url::parse_with_params(
        &base,
        &[
            ("api-version", "2024-02-01"),
            ("metricnames", "RequestsPerMinute"),
            ("timespan", timespan.as_str()),
            ("interval", "FULL"),
            ("aggregation", "Total"),
        ],
    )
    .unwrap();
    let r = http().get(u).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let green = ROWS.iter().filter(|r| r.1 == "green").count() as f64;
    assert_eq!(
        body["value"][0]["timeseries"][0]["data"][0]["total"].as_f64(),
        Some(green)
    );
    assert_eq!(
        body["namespace"],
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
    );
}

#[tokio::test]
async fn a_full_interval_with_an_unaligned_start_counts_exactly_the_rows_inside() {
    let (emu, token) = setup().await;
    let start = t0(&emu) + Duration::seconds(30);
    let timespan = format!(
        "{}/{}",
        rfc3339(start),
        rfc3339(start + Duration::minutes(2))
    );
    let body = query_ok(
        &emu,
        &token,
        &[
            ("api-version", "2024-02-01"),
            ("metricnames", "RequestLatency"),
            ("timespan", &timespan),
            ("interval", "FULL"),
            ("aggregation", "Count"),
        ],
    )
    .await;
    let inside = ROWS.iter().filter(|r| (30.0..150.0).contains(&r.0)).count() as f64;
    let point = &body["value"][0]["timeseries"][0]["data"][0];
    assert_eq!(point["timeStamp"], rfc3339(start));
    assert_eq!(point["count"].as_f64(), Some(inside));
}
