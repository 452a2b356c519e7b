//! ARM online endpoints through real HTTP with tokens from the real managed-identity credential.

mod common;

use azure_emulator::{ARM_RESOURCE, LOG_ANALYTICS_RESOURCE, RunningEmulator};
use common::*;
use serde_json::{Value, json};

fn url(emu: &RunningEmulator, suffix: &str) -> String {
    let sep = if suffix.contains('?') { '&' } else { '?' };
    format!(
        "{}{}{suffix}{sep}api-version={ML_API}",
        emu.base_url(),
        endpoint_path()
    )
}

async fn get(token: &str, url: &str) -> reqwest::Response {
    http().get(url).bearer_auth(token).send().await.unwrap()
}

async fn get_json(emu: &RunningEmulator, token: &str, suffix: &str) -> Value {
    let r = get(token, &url(emu, suffix)).await;
    assert_eq!(r.status(), 200, "GET {suffix}");
    r.json().await.unwrap()
}

/// GET the endpoint, replace its maps, PUT it back: what the daemon and the az CLI do.
async fn put_split(
    emu: &RunningEmulator,
    token: &str,
    traffic: Value,
    mirror: Value,
) -> reqwest::Response {
    let mut body = get_json(emu, token, "").await;
    body["properties"]["traffic"] = traffic;
    body["properties"]["mirrorTraffic"] = mirror;
    put_body(emu, token, &body).await
}

async fn put_body(emu: &RunningEmulator, token: &str, body: &Value) -> reqwest::Response {
    http()
        .put(url(emu, ""))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn error_code(r: reqwest::Response) -> String {
    let body: Value = r.json().await.unwrap();
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an ARM error body: {body}"))
        .to_string()
}

async fn setup() -> (RunningEmulator, String) {
    let emu = start_emulator(None, manual_clock()).await;
    seed_world(&emu, &[]);
    let token = bearer(&emu, ARM_RESOURCE).await;
    (emu, token)
}

fn history_len(emu: &RunningEmulator) -> usize {
    emu.state.world().history.len()
}

#[tokio::test]
async fn get_endpoint_has_the_documented_shape_and_paths_ignore_case() {
    let (emu, token) = setup().await;
    let body = get_json(&emu, &token, "").await;
    assert_eq!(body["name"], EP);
    assert_eq!(
        body["type"],
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
    );
    assert_eq!(body["id"], endpoint_path());
    assert_eq!(body["location"], "eastus");
    assert_eq!(body["kind"], "Managed");
    assert_eq!(body["identity"]["type"], "SystemAssigned");
    assert_eq!(body["properties"]["traffic"], json!({"blue": 100}));
    assert_eq!(body["properties"]["mirrorTraffic"], json!({}));
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(body["properties"]["authMode"], "Key");
    assert!(
        body["properties"]["scoringUri"]
            .as_str()
            .unwrap()
            .starts_with("https://my-ep.eastus.inference.ml.azure.com")
    );
    assert!(body["systemData"]["lastModifiedAt"].is_string());

    let shouted = format!(
        "{}{}?api-version={ML_API}",
        emu.base_url(),
        endpoint_path().to_uppercase().replace("MY-EP", "My-Ep")
    );
    let r = get(&token, &shouted).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()
            .contains_key("x-ms-ratelimit-remaining-subscription-reads")
    );
}

#[tokio::test]
async fn api_version_is_required_and_checked() {
    let (emu, token) = setup().await;
    let bare = format!("{}{}", emu.base_url(), endpoint_path());
    let r = get(&token, &bare).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "MissingApiVersionParameter");

    let old = format!("{bare}?api-version=2015-01-01");
    let r = get(&token, &old).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidApiVersionParameter");
    let message = body["error"]["message"].as_str().unwrap();
    for v in ["2025-12-01", "2025-09-01", "2025-06-01"] {
        assert!(message.contains(v), "{message}");
    }
    for v in ["2025-09-01", "2025-06-01"] {
        let r = get(&token, &format!("{bare}?api-version={v}")).await;
        assert_eq!(r.status(), 200, "{v}");
    }
}

#[tokio::test]
async fn authentication_failures_use_the_arm_shape() {
    let (emu, _token) = setup().await;
    let la_token = bearer(&emu, LOG_ANALYTICS_RESOURCE).await;
    let u = url(&emu, "");

    let missing = http().get(&u).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert!(
        missing.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    assert_eq!(error_code(missing).await, "AuthenticationFailed");

    let garbage = get("not-a-token", &u).await;
    assert_eq!(garbage.status(), 401);
    assert!(garbage.headers().contains_key("www-authenticate"));
    assert_eq!(error_code(garbage).await, "InvalidAuthenticationToken");

    let wrong_audience = get(&la_token, &u).await;
    assert_eq!(wrong_audience.status(), 401);
    assert_eq!(
        error_code(wrong_audience).await,
        "InvalidAuthenticationTokenAudience"
    );
}

#[tokio::test]
async fn unknown_resources_are_not_found() {
    let (emu, token) = setup().await;
    let other = format!(
        "{}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}/onlineEndpoints/other?api-version={ML_API}",
        emu.base_url()
    );
    let r = get(&token, &other).await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "ResourceNotFound");
    let r = get(&token, &url(&emu, "/deployments/purple")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "ResourceNotFound");
    let r = get(&token, &url(&emu, "/somethingElse")).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn bad_json_is_a_400_in_arm_shape() {
    let (emu, token) = setup().await;
    for body in ["{not json", "[1,2]", ""] {
        let r = http()
            .put(url(&emu, ""))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body:?}");
        assert_eq!(error_code(r).await, "InvalidRequestContent");
    }
    assert_eq!(emu.state.arm.in_progress(), 0);
}

#[tokio::test]
async fn every_validation_rule_is_enforced() {
    let (emu, token) = setup().await;
    let cases = [
        (json!({"blue": 90}), json!({}), "sum to 100"),
        (json!({"blue": 60, "green": 50}), json!({}), "sum to 100"),
        (json!({"blue": 100}), json!({"green": 60}), "50 percent"),
        (
            json!({"blue": 100}),
            json!({"green": 10, "shadow": 10}),
            "one deployment",
        ),
        (
            json!({"blue": 90, "green": 10}),
            json!({"green": 10}),
            "both",
        ),
        (
            json!({"blue": 90, "purple": 10}),
            json!({}),
            "does not exist",
        ),
        (
            json!({"blue": 100}),
            json!({"purple": 10}),
            "does not exist",
        ),
        (json!({"blue": 90, "broken": 10}), json!({}), "Succeeded"),
        (json!({"blue": 101}), json!({}), "between 0 and 100"),
        (json!({"blue": -1}), json!({}), "between 0 and 100"),
        (
            json!({"blue": 99.5, "green": 0.5}),
            json!({}),
            "between 0 and 100",
        ),
        (json!({"blue": "100"}), json!({}), "between 0 and 100"),
        (json!([100]), json!({}), "object"),
    ];
    for (traffic, mirror, expected) in cases {
        let r = put_split(&emu, &token, traffic.clone(), mirror.clone()).await;
        assert_eq!(r.status(), 400, "{traffic} / {mirror}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "BadRequest", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{traffic}/{mirror}: {message}");
    }
    assert_eq!(emu.state.arm.in_progress(), 0, "no operation started");
    let body = get_json(&emu, &token, "").await;
    assert_eq!(body["properties"]["traffic"], json!({"blue": 100}));

    // Immutable and required properties.
    let mut moved = body.clone();
    moved["location"] = json!("westeurope");
    let r = put_body(&emu, &token, &moved).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "InvalidResourceLocation");
    let mut no_auth = body.clone();
    no_auth["properties"]
        .as_object_mut()
        .unwrap()
        .remove("authMode");
    let r = put_body(&emu, &token, &no_auth).await;
    assert_eq!(r.status(), 400);

    // Zero entries are dropped, keys lower-cased, and an all-zero split is accepted.
    let r = put_split(
        &emu,
        &token,
        json!({"BLUE": 100, "green": 0}),
        json!({"Shadow": 0}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let accepted: Value = r.json().await.unwrap();
    assert_eq!(accepted["properties"]["traffic"], json!({"blue": 100}));
    assert_eq!(accepted["properties"]["mirrorTraffic"], json!({}));
}

#[tokio::test]
async fn a_successful_operation_applies_the_split_only_when_it_ends() {
    let (emu, token) = setup().await;
    let before = history_len(&emu);
    let r = put_split(
        &emu,
        &token,
        json!({"blue": 90, "green": 10}),
        json!({"shadow": 20}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let headers = r.headers().clone();
    let async_url = headers["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    let location_url = headers["location"].to_str().unwrap().to_string();
    assert!(async_url.starts_with(&format!("{}/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/locations/eastus/mfeOperationsStatus/", emu.base_url())));
    assert!(async_url.contains("api-version="));
    assert!(headers.contains_key("x-ms-async-operation-timeout"));
    assert_eq!(headers["retry-after"], "1");
    assert!(headers.contains_key("x-ms-ratelimit-remaining-subscription-writes"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["properties"]["provisioningState"], "Updating");
    assert_eq!(
        body["properties"]["traffic"],
        json!({"blue": 90, "green": 10})
    );

    // In progress: the old split stands, the endpoint is Updating, a second PUT conflicts.
    let now = get_json(&emu, &token, "").await;
    assert_eq!(now["properties"]["provisioningState"], "Updating");
    assert_eq!(now["properties"]["traffic"], json!({"blue": 100}));
    let second = put_split(&emu, &token, json!({"blue": 100}), json!({})).await;
    assert_eq!(second.status(), 409);
    assert_eq!(error_code(second).await, "Conflict");
    let poll = get(&token, &async_url).await;
    assert_eq!(poll.status(), 200);
    assert!(poll.headers().contains_key("retry-after"));
    let status: Value = poll.json().await.unwrap();
    assert_eq!(status["status"], "InProgress");
    assert!(status["startTime"].is_string());
    assert!(status.get("endTime").is_none());
    assert_eq!(get(&token, &location_url).await.status(), 202);
    assert_eq!(history_len(&emu), before);

    advance(&emu, 9.0).await;
    let status: Value = get(&token, &async_url).await.json().await.unwrap();
    assert_eq!(status["status"], "InProgress", "lro_duration_s is 10");
    advance(&emu, 2.0).await;
    let status: Value = get(&token, &async_url).await.json().await.unwrap();
    assert_eq!(status["status"], "Succeeded");
    assert!(status["endTime"].is_string());
    let op_id = status["name"].as_str().unwrap().to_string();
    assert!(async_url.contains(&op_id));

    let after = get_json(&emu, &token, "").await;
    assert_eq!(after["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        after["properties"]["traffic"],
        json!({"blue": 90, "green": 10})
    );
    assert_eq!(after["properties"]["mirrorTraffic"], json!({"shadow": 20}));
    assert_eq!(get(&token, &location_url).await.status(), 200);

    let history: Value = http()
        .get(format!("{}/_emulator/traffic-history", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = history["changes"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["actor"], "arm");
    assert_eq!(last["operation_id"], op_id.as_str());
    assert_eq!(last["old_traffic"], json!({"blue": 100}));
    assert_eq!(last["new_traffic"], json!({"blue": 90, "green": 10}));
    assert_eq!(last["new_mirror_traffic"], json!({"shadow": 20}));
    assert_eq!(
        last["at"], "2026-01-01T00:00:10Z",
        "recorded at the operation's end"
    );
}

#[tokio::test]
async fn a_failed_operation_leaves_no_half_state() {
    let (emu, token) = setup().await;
    inject(&emu, json!({"kind": "lro_fail"})).await;
    let before = history_len(&emu);
    let r = put_split(&emu, &token, json!({"blue": 50, "green": 50}), json!({})).await;
    assert_eq!(r.status(), 201);
    let async_url = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    advance(&emu, 30.0).await;
    let status: Value = get(&token, &async_url).await.json().await.unwrap();
    assert_eq!(status["status"], "Failed");
    assert!(status["error"]["code"].is_string());
    assert!(status["error"]["message"].is_string());
    let body = get_json(&emu, &token, "").await;
    assert_eq!(body["properties"]["traffic"], json!({"blue": 100}));
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(history_len(&emu), before);
    // The next attempt is accepted (the fault was one-shot) and succeeds.
    let r = put_split(&emu, &token, json!({"blue": 50, "green": 50}), json!({})).await;
    assert_eq!(r.status(), 201);
    advance(&emu, 30.0).await;
    let body = get_json(&emu, &token, "").await;
    assert_eq!(
        body["properties"]["traffic"],
        json!({"blue": 50, "green": 50})
    );
}

#[tokio::test]
async fn a_hung_operation_stays_in_progress_and_blocks_updates() {
    let (emu, token) = setup().await;
    inject(&emu, json!({"kind": "lro_hang"})).await;
    let r = put_split(&emu, &token, json!({"blue": 90, "green": 10}), json!({})).await;
    assert_eq!(r.status(), 201);
    let async_url = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    advance(&emu, 3600.0).await;
    let status: Value = get(&token, &async_url).await.json().await.unwrap();
    assert_eq!(status["status"], "InProgress");
    let body = get_json(&emu, &token, "").await;
    assert_eq!(body["properties"]["provisioningState"], "Updating");
    assert_eq!(body["properties"]["traffic"], json!({"blue": 100}));
    let again = put_split(&emu, &token, json!({"blue": 100}), json!({})).await;
    assert_eq!(again.status(), 409);
}

#[tokio::test]
async fn patch_accepts_tags_but_not_properties() {
    let (emu, token) = setup().await;
    let r = http()
        .patch(url(&emu, ""))
        .bearer_auth(&token)
        .json(&json!({"properties": {"traffic": {"blue": 50, "green": 50}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BadRequest");
    assert!(body["error"]["message"].as_str().unwrap().contains("PATCH"));

    let r = http()
        .patch(url(&emu, ""))
        .bearer_auth(&token)
        .json(&json!({"tags": {"owner": "canaryd"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = get_json(&emu, &token, "").await;
    assert_eq!(body["tags"], json!({"owner": "canaryd"}));
    assert_eq!(body["properties"]["traffic"], json!({"blue": 100}));
    assert_eq!(emu.state.arm.in_progress(), 0);
}

#[tokio::test]
async fn deployments_are_listed_in_pages_and_read_one_by_one() {
    let emu = start_emulator(None, manual_clock()).await;
    seed_world(&emu, &["d1", "d2", "d3", "d4", "d5"]);
    let token = bearer(&emu, ARM_RESOURCE).await;
    let mut settings = emu.state.settings();
    settings.deployments_page_size = 4;
    emu.state.set_settings(settings);

    let mut next = Some(url(&emu, "/deployments"));
    let (mut names, mut pages) = (Vec::new(), 0);
    while let Some(link) = next {
        assert!(
            link.starts_with(&emu.base_url()),
            "absolute nextLink: {link}"
        );
        let page: Value = get(&token, &link).await.json().await.unwrap();
        let value = page["value"].as_array().unwrap();
        assert!(value.len() <= 4);
        names.extend(
            value
                .iter()
                .map(|d| d["name"].as_str().unwrap().to_string()),
        );
        next = page["nextLink"].as_str().map(str::to_string);
        pages += 1;
    }
    assert_eq!(pages, 3);
    names.sort();
    assert_eq!(
        names,
        [
            "blue", "broken", "d1", "d2", "d3", "d4", "d5", "green", "shadow"
        ]
    );

    let green = get_json(&emu, &token, "/deployments/GREEN").await;
    assert_eq!(green["name"], "green");
    assert_eq!(green["sku"]["capacity"], 2);
    assert_eq!(green["properties"]["provisioningState"], "Succeeded");
    assert_eq!(green["properties"]["instanceType"], "Standard_DS3_v2");
    assert!(
        green["properties"]["model"]
            .as_str()
            .unwrap()
            .ends_with("/versions/3")
    );
    assert_eq!(
        green["properties"]["requestSettings"]["requestTimeout"],
        "PT5S"
    );
    assert!(green["systemData"]["createdAt"].is_string());
    let broken = get_json(&emu, &token, "/deployments/broken").await;
    assert_eq!(broken["properties"]["provisioningState"], "Failed");
}

#[tokio::test]
async fn get_logs_returns_the_requested_tail() {
    let (emu, token) = setup().await;
    let t0 = emu.state.now() - time::Duration::minutes(5);
    append_rows(
        &emu,
        t0,
        &[
            (1.0, "blue", 200, 200, 40),
            (2.0, "blue", 500, 500, 90),
            (3.0, "green", 200, 200, 30),
        ],
    );
    let logs = |body: Value| {
        let emu = &emu;
        let token = token.clone();
        async move {
            http()
                .post(url(emu, "/deployments/blue/getLogs"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = logs(json!({"containerType": "InferenceServer", "tail": 2})).await;
    assert_eq!(r.status(), 200);
    let content: Value = r.json().await.unwrap();
    let lines: Vec<&str> = content["content"].as_str().unwrap().lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[1].contains(" 500 "), "{lines:?}");
    let all: Value = logs(json!({"containerType": "InferenceServer", "tail": 1000}))
        .await
        .json()
        .await
        .unwrap();
    let text = all["content"].as_str().unwrap();
    assert_eq!(
        text.matches("POST /score").count(),
        2,
        "blue served two requests"
    );
    assert!(text.contains("blue"));
    let r = logs(json!({"containerType": "Sidecar", "tail": 10})).await;
    assert_eq!(r.status(), 400);
    let r = logs(json!({"tail": -3})).await;
    assert_eq!(r.status(), 400);
    let r = http()
        .post(url(&emu, "/deployments/nope/getLogs"))
        .bearer_auth(&token)
        .json(&json!({"tail": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn injected_arm_faults_answer_once_each() {
    let (emu, token) = setup().await;
    inject(&emu, json!({"kind": "arm_error", "status": 500})).await;
    inject(&emu, json!({"kind": "arm_error", "status": 503})).await;
    inject(&emu, json!({"kind": "arm_throttle", "retry_after_s": 7})).await;
    let u = url(&emu, "");
    let r = get(&token, &u).await;
    assert_eq!(r.status(), 500);
    assert_eq!(error_code(r).await, "InternalServerError");
    let r = get(&token, &u).await;
    assert_eq!(r.status(), 503);
    assert_eq!(error_code(r).await, "ServiceUnavailable");
    let r = get(&token, &u).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(error_code(r).await, "TooManyRequests");
    assert_eq!(get(&token, &u).await.status(), 200);
}

#[tokio::test]
async fn token_buckets_throttle_reads_and_writes_separately() {
    let (emu, token) = setup().await;
    let mut settings = emu.state.settings();
    settings.arm_throttling = Some(azure_emulator::state::ArmThrottling {
        read_capacity: 3,
        read_refill_per_s: 0.01,
        write_capacity: 2,
        write_refill_per_s: 0.01,
    });
    emu.state.set_settings(settings);
    let u = url(&emu, "");
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = get(&token, &u).await;
        assert_eq!(r.status(), 200);
        remaining.push(
            r.headers()["x-ms-ratelimit-remaining-subscription-reads"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let r = get(&token, &u).await;
    assert_eq!(r.status(), 429);
    let retry: u32 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_eq!(
        r.headers()["x-ms-ratelimit-remaining-subscription-reads"],
        "0"
    );
    assert_eq!(error_code(r).await, "TooManyRequests");

    // Writes have their own bucket.
    let body = json!({"tags": {"a": "b"}});
    let w = http()
        .patch(&u)
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(w.status(), 200);
    assert_eq!(
        w.headers()["x-ms-ratelimit-remaining-subscription-writes"],
        "1"
    );
}
