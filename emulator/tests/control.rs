//! The `/_emulator/` control API.

mod common;

use azure_emulator::{ARM_RESOURCE, Clock};
use common::*;
use serde_json::{Value, json};

const SCENARIO: &str = "
seed: 7
endpoints:
  - name: ctl-ep
    traffic: {blue: 100}
    rate: {steady: {rps: 0}}
    deployments:
      - name: blue
        latency: {median_ms: 40, sigma: 0.3}
      - name: green
        latency: {median_ms: 45, sigma: 0.3}
";

async fn control_get(emu: &azure_emulator::RunningEmulator, path: &str) -> Value {
    let r = http()
        .get(format!("{}/_emulator/{path}", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_scenario_posted_as_yaml_replaces_the_world() {
    let emu = start_emulator(None, manual_clock()).await;
    seed_world(&emu, &[]);
    let r = http()
        .post(format!("{}/_emulator/scenario", emu.base_url()))
        .header("content-type", "application/yaml")
        .body(SCENARIO)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["endpoints"], json!(["ctl-ep"]));

    let state = control_get(&emu, "state").await;
    let endpoints = state["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "the seeded endpoint is gone");
    assert_eq!(endpoints[0]["name"], "ctl-ep");
    assert_eq!(endpoints[0]["traffic"], json!({"blue": 100}));
    assert_eq!(endpoints[0]["provisioningState"], "Succeeded");

    let history = control_get(&emu, "traffic-history").await;
    let changes = history["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["actor"], "scenario");
    assert_eq!(changes[0]["new_traffic"], json!({"blue": 100}));

    let bad = http()
        .post(format!("{}/_emulator/scenario", emu.base_url()))
        .body("endpoints: [{name: x, unknown_field: 1}]")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let err: Value = bad.json().await.unwrap();
    assert!(err["error"].is_string());
    let state = control_get(&emu, "state").await;
    assert_eq!(
        state["endpoints"][0]["name"], "ctl-ep",
        "a bad scenario changes nothing"
    );
}

#[tokio::test]
async fn the_manual_clock_advances_and_a_scaled_one_refuses() {
    let emu = start_emulator(None, manual_clock()).await;
    let clock = control_get(&emu, "clock").await;
    assert_eq!(clock["now"], "2026-01-01T00:00:00Z");
    assert_eq!(clock["manual"], true);
    let r: Value = http()
        .post(format!("{}/_emulator/clock/advance", emu.base_url()))
        .json(&json!({"seconds": 90}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["now"], "2026-01-01T00:01:30Z");
    for bad in [json!({"seconds": -1}), json!({"minutes": 1}), json!("x")] {
        let r = http()
            .post(format!("{}/_emulator/clock/advance", emu.base_url()))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }

    let scaled = start_emulator(
        None,
        Clock::scaled(time::macros::datetime!(2026-01-01 00:00 UTC), 10.0),
    )
    .await;
    let r = http()
        .post(format!("{}/_emulator/clock/advance", scaled.base_url()))
        .json(&json!({"seconds": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(control_get(&scaled, "clock").await["manual"], false);
}

#[tokio::test]
async fn faults_are_injected_validated_and_cleared() {
    let emu = start_emulator(None, manual_clock()).await;
    seed_world(&emu, &[]);
    let token = bearer(&emu, ARM_RESOURCE).await;
    let faults = format!("{}/_emulator/faults", emu.base_url());
    let ep = format!("{}{}?api-version={ML_API}", emu.base_url(), endpoint_path());

    let r = http()
        .post(&faults)
        .json(&json!({"kind": "nonsense"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http()
        .post(&faults)
        .json(&json!({"kind": "deployment_failed", "endpoint": "nope", "deployment": "blue"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Queued ARM faults are forgotten by DELETE.
    inject(
        &emu,
        json!({"kind": "arm_error", "status": 500, "count": 3}),
    )
    .await;
    let r = http().delete(&faults).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = http().get(&ep).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // A deployment failure shows in ARM and blocks traffic to it.
    inject(
        &emu,
        json!({"kind": "deployment_failed", "endpoint": EP, "deployment": "green"}),
    )
    .await;
    let dep = format!(
        "{}{}/deployments/green?api-version={ML_API}",
        emu.base_url(),
        endpoint_path()
    );
    let body: Value = http()
        .get(&dep)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["properties"]["provisioningState"], "Failed");

    // An outside change is recorded with actor "outside".
    inject(
        &emu,
        json!({"kind": "outside_traffic_change", "endpoint": EP, "traffic": {"blue": 70, "shadow": 30}}),
    )
    .await;
    let history = control_get(&emu, "traffic-history").await;
    let last = history["changes"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["actor"], "outside");
    assert_eq!(last["new_traffic"], json!({"blue": 70, "shadow": 30}));
    assert!(last["operation_id"].is_null());
    let body: Value = http()
        .get(&ep)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["properties"]["traffic"],
        json!({"blue": 70, "shadow": 30})
    );
}

#[tokio::test]
async fn state_reports_operations_in_progress() {
    let emu = start_emulator(None, manual_clock()).await;
    seed_world(&emu, &[]);
    let token = bearer(&emu, ARM_RESOURCE).await;
    let ep = format!("{}{}?api-version={ML_API}", emu.base_url(), endpoint_path());
    let mut body: Value = http()
        .get(&ep)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["properties"]["traffic"] = json!({"blue": 80, "green": 20});
    let r = http()
        .put(&ep)
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let state = control_get(&emu, "state").await;
    assert_eq!(state["operationsInProgress"], 1);
    assert_eq!(state["endpoints"][0]["provisioningState"], "Updating");
    advance(&emu, 10.0).await;
    let state = control_get(&emu, "state").await;
    assert_eq!(state["operationsInProgress"], 0);
    assert_eq!(
        state["endpoints"][0]["traffic"],
        json!({"blue": 80, "green": 20})
    );
}

#[tokio::test]
async fn an_emulator_started_with_a_scenario_serves_it_over_arm() {
    let emu = start_emulator(Some(SCENARIO), manual_clock()).await;
    let token = bearer(&emu, ARM_RESOURCE).await;
    let id = control_get(&emu, "state").await["endpoints"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http()
        .get(format!("{}{id}?api-version={ML_API}", emu.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["name"], "ctl-ep");
    assert_eq!(body["properties"]["traffic"], json!({"blue": 100}));
    let deployments: Value = http()
        .get(format!(
            "{}{id}/deployments?api-version={ML_API}",
            emu.base_url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deployments["value"].as_array().unwrap().len(), 2);
}

/// A split applied by a long-running operation changes the generated traffic at the moment
/// the operation ended, even when nobody polls it and the clock jumps past that moment.
#[tokio::test]
async fn generated_rows_switch_split_when_the_operation_ends() {
    let scenario = SCENARIO.replace("rps: 0", "rps: 200");
    let emu = start_emulator(Some(&scenario), manual_clock()).await;
    let token = bearer(&emu, ARM_RESOURCE).await;
    let (resource_id, start) = {
        let world = emu.state.world();
        let ep = world.endpoints.values().next().expect("scenario endpoint");
        (ep.resource_id(), emu.state.now())
    };
    let url = format!("{}{resource_id}?api-version=2025-12-01", emu.base_url());
    let mut body: Value = http()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["properties"]["traffic"] = json!({"blue": 50, "green": 50});
    let put = http()
        .put(&url)
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);

    // 10 s of InProgress (the default), then 50 s more; nobody polls the operation.
    advance(&emu, 60.0).await;

    let history = control_get(&emu, "traffic-history").await;
    let changes = history["changes"].as_array().unwrap();
    let applied = changes.last().unwrap();
    assert_eq!(applied["actor"], "arm");
    let applied_at = time::OffsetDateTime::parse(
        applied["at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let lro_end = applied_at - start;
    assert!(
        (lro_end.as_seconds_f64() - 10.0).abs() < 0.5,
        "operation ended {lro_end} after the PUT"
    );

    let snapshot = emu.state.logs.snapshot();
    let applied_us = (applied_at.unix_timestamp_nanos() / 1000) as i64;
    let slot_us = 100_000; // the generator's slot: a split holds from a slot boundary
    let (mut green_before, mut green_after, mut after) = (0, 0, 0);
    for row in snapshot.rows() {
        let green = snapshot.string(row.deployment) == "green";
        if row.time_us < applied_us {
            green_before += usize::from(green);
        } else if row.time_us >= applied_us + slot_us {
            after += 1;
            green_after += usize::from(green);
        }
    }
    assert_eq!(
        green_before, 0,
        "green served traffic before its split applied"
    );
    let share = green_after as f64 / after as f64;
    assert!(after > 5_000, "{after} rows after the change");
    assert!(
        (share - 0.5).abs() < 0.03,
        "green share after the change {share}"
    );
}
