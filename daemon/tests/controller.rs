//! The traffic controller against the in-process emulator, through the real
//! `ManagedIdentityCredential`. Every assertion about what happened to traffic reads the
//! emulator's traffic history, not log lines.

mod common;
use common::*;

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_emulator::RunningEmulator;
use azure_emulator::faults::Fault;
use azure_emulator::model::{Actor, TrafficChange};
use canaryd::azure::arm::{ArmClient, ArmOptions, LroOutcome};
use canaryd::azure::credential::build_credential;
use canaryd::azure::{ARM_SCOPE, AzureError, RetryPolicy};
use canaryd::config::CredentialConfig;
use canaryd::controller::{ApplyOutcome, ControllerError, ControllerOptions, TrafficController};
use canaryd::model::{Split, SplitError, TrafficMap};

const SCENARIO: &str = r#"
settings:
  lro_duration_s: 5
  lro_retry_after_s: 1
endpoints:
  - name: my-ep
    subscription: 00000000-0000-4000-8000-0000000000aa
    resource_group: rg-canary
    workspace: ws-canary
    traffic: {blue: 100}
    rate: {steady: {rps: 1}}
    deployments:
      - name: blue
        latency: {median_ms: 50, sigma: 0.3}
      - name: green
        latency: {median_ms: 50, sigma: 0.3}
      - name: broken
        provisioning_state: Failed
        latency: {median_ms: 50, sigma: 0.3}
"#;

fn arm_options() -> ArmOptions {
    ArmOptions {
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_secs(3),
        },
        poll_interval_min: Duration::from_millis(5),
        poll_interval_max: Duration::from_millis(20),
        lro_timeout: Duration::from_secs(10),
        ..ArmOptions::default()
    }
}

fn options() -> ControllerOptions {
    ControllerOptions {
        lro_attempts: 3,
        retry_backoff: Duration::from_millis(5),
        busy_poll: Duration::from_millis(10),
        busy_timeout: Duration::from_secs(5),
    }
}

fn controller_with(
    emu: &RunningEmulator,
    credential: Arc<dyn TokenCredential>,
    options: ControllerOptions,
) -> TrafficController {
    let arm = ArmClient::new(&emu.base_url(), credential, arm_options()).expect("base URL");
    TrafficController::new(arm, options)
}

async fn controller(emu: &RunningEmulator) -> TrafficController {
    controller_with(emu, managed_identity(emu, &[ARM_SCOPE]).await, options())
}

fn map(pairs: &[(&str, u32)]) -> TrafficMap {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn split(traffic: &[(&str, u32)], mirror: &[(&str, u32)]) -> Split {
    Split::new(map(traffic), map(mirror))
}

fn history(emu: &RunningEmulator) -> Vec<TrafficChange> {
    emu.state.world().history.clone()
}

/// The whole traffic history, comparable.
fn snapshot(emu: &RunningEmulator) -> serde_json::Value {
    serde_json::to_value(history(emu)).expect("history serialises")
}

fn arm_changes(emu: &RunningEmulator) -> Vec<TrafficChange> {
    history(emu)
        .into_iter()
        .filter(|c| c.actor == Actor::Arm)
        .collect()
}

#[tokio::test]
async fn applies_a_step_and_verifies_it() {
    let emu = start(SCENARIO).await;
    let controller = controller(&emu).await;
    let from = Split::all_to("blue");
    let to = split(&[("blue", 95), ("green", 5)], &[]);
    let outcome = controller
        .apply(&endpoint(), &from, &to)
        .await
        .expect("apply");
    assert_eq!(
        outcome,
        ApplyOutcome::Applied {
            observed: to.clone()
        }
    );
    let changes = arm_changes(&emu);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].old_traffic, map(&[("blue", 100)]));
    assert_eq!(changes[0].new_traffic, map(&[("blue", 95), ("green", 5)]));
    assert!(changes[0].new_mirror_traffic.is_empty());
}

#[tokio::test]
async fn mirrors_traffic_for_a_shadow_phase() {
    let emu = start(SCENARIO).await;
    let controller = controller(&emu).await;
    let to = split(&[("blue", 100)], &[("green", 20)]);
    controller
        .apply(&endpoint(), &Split::all_to("blue"), &to)
        .await
        .expect("apply");
    let changes = arm_changes(&emu);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].new_traffic, map(&[("blue", 100)]));
    assert_eq!(changes[0].new_mirror_traffic, map(&[("green", 20)]));
}

#[tokio::test]
async fn reads_the_endpoint_view() {
    let emu = start(SCENARIO).await;
    let controller = controller(&emu).await;
    let view = controller.read(&endpoint()).await.expect("read");
    assert_eq!(view.split, Split::all_to("blue"));
    assert_eq!(view.provisioning_state, "Succeeded");
    assert_eq!(view.deployments.len(), 3);
    assert_eq!(
        view.deployment("BROKEN")
            .map(|d| d.provisioning_state.as_str()),
        Some("Failed")
    );
}

#[tokio::test]
async fn a_split_already_in_place_sends_nothing() {
    let emu = start(SCENARIO).await;
    let controller = controller(&emu).await;
    let before = snapshot(&emu);
    // As a restarted daemon would: it does not know whether its last action landed.
    let outcome = controller
        .apply(
            &endpoint(),
            &split(&[("blue", 90), ("green", 10)], &[]),
            &Split::all_to("blue"),
        )
        .await
        .expect("apply");
    assert_eq!(
        outcome,
        ApplyOutcome::AlreadyInPlace {
            observed: Split::all_to("blue")
        }
    );
    assert_eq!(snapshot(&emu), before);
}

#[tokio::test]
async fn a_failed_operation_is_retried_once_verified_unchanged() {
    let emu = start(SCENARIO).await;
    let controller = controller(&emu).await;
    emu.state
        .inject_fault(&Fault::LroFail { count: 1 })
        .expect("fault");
    let to = split(&[("blue", 90), ("green", 10)], &[]);
    let outcome = controller
        .apply(&endpoint(), &Split::all_to("blue"), &to)
        .await
        .expect("apply");
    assert_eq!(outcome, ApplyOutcome::Applied { observed: to });
    // Exactly one applied change, straight from the old split to the new one: no half state.
    let changes = arm_changes(&emu);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].old_traffic, map(&[("blue", 100)]));
    assert_eq!(changes[0].new_traffic, map(&[("blue", 90), ("green", 10)]));
}

#[tokio::test]
async fn a_persistently_failing_operation_leaves_the_endpoint_unchanged() {
    let emu = start(SCENARIO).await;
    let controller = controller_with(
        &emu,
        managed_identity(&emu, &[ARM_SCOPE]).await,
        ControllerOptions {
            lro_attempts: 2,
            ..options()
        },
    );
    emu.state
        .inject_fault(&Fault::LroFail { count: 5 })
        .expect("fault");
    let before = snapshot(&emu);
    let error = controller
        .apply(
            &endpoint(),
            &Split::all_to("blue"),
            &split(&[("blue", 90), ("green", 10)], &[]),
        )
        .await
        .expect_err("every operation fails");
    assert!(
        matches!(&error, ControllerError::OperationFailed { attempts: 2, code, .. } if code == "InternalServerError"),
        "{error:?}"
    );
    assert_eq!(snapshot(&emu), before);
    let view = controller.read(&endpoint()).await.expect("read");
    assert_eq!(view.split, Split::all_to("blue"));
}

#[tokio::test]
async fn throttling_and_server_errors_are_ridden_out() {
    let emu = start(SCENARIO).await;
    let controller = controller(&emu).await;
    emu.state
        .inject_fault(&Fault::ArmThrottle {
            count: 1,
            retry_after_s: 1,
        })
        .expect("fault");
    emu.state
        .inject_fault(&Fault::ArmError {
            status: 503,
            count: 1,
        })
        .expect("fault");
    let to = split(&[("blue", 75), ("green", 25)], &[]);
    let outcome = controller
        .apply(&endpoint(), &Split::all_to("blue"), &to)
        .await
        .expect("apply");
    assert_eq!(outcome, ApplyOutcome::Applied { observed: to });
    assert_eq!(arm_changes(&emu).len(), 1);
}

#[tokio::test]
async fn an_outside_change_is_not_fought() {
    let emu = start(SCENARIO).await;
    let controller = controller(&emu).await;
    emu.state
        .inject_fault(&Fault::OutsideTrafficChange {
            endpoint: "my-ep".into(),
            traffic: map(&[("blue", 50), ("green", 50)]),
            mirror_traffic: None,
        })
        .expect("fault");
    let before = snapshot(&emu);
    assert_eq!(history(&emu).last().map(|c| c.actor), Some(Actor::Outside));
    let outcome = controller
        .apply(
            &endpoint(),
            &Split::all_to("blue"),
            &split(&[("blue", 90), ("green", 10)], &[]),
        )
        .await
        .expect("apply");
    assert_eq!(
        outcome,
        ApplyOutcome::OutsideChange {
            observed: split(&[("blue", 50), ("green", 50)], &[])
        }
    );
    assert_eq!(snapshot(&emu), before, "nothing sent");
}

#[tokio::test]
async fn invalid_splits_are_never_sent() {
    let emu = start(SCENARIO).await;
    let controller = controller(&emu).await;
    let before = snapshot(&emu);
    let from = Split::all_to("blue");
    let cases = [
        (split(&[("blue", 90), ("green", 5)], &[]), "sum 95"),
        (split(&[("blue", 100)], &[("green", 60)]), "mirror over 50"),
        (
            split(&[("blue", 90), ("green", 10)], &[("green", 10)]),
            "live and mirrored",
        ),
    ];
    for (desired, why) in cases {
        let error = controller
            .apply(&endpoint(), &from, &desired)
            .await
            .expect_err(why);
        assert!(
            matches!(error, ControllerError::InvalidSplit(_)),
            "{why}: {error:?}"
        );
    }
    let error = controller
        .apply(
            &endpoint(),
            &from,
            &split(&[("blue", 90), ("broken", 10)], &[]),
        )
        .await
        .expect_err("failed deployment");
    assert!(
        matches!(&error, ControllerError::DeploymentNotReady { deployment, state: Some(s) } if deployment == "broken" && s == "Failed"),
        "{error:?}"
    );
    let error = controller
        .apply(
            &endpoint(),
            &from,
            &split(&[("blue", 90), ("purple", 10)], &[]),
        )
        .await
        .expect_err("missing deployment");
    assert!(
        matches!(&error, ControllerError::DeploymentNotReady { deployment, state: None } if deployment == "purple"),
        "{error:?}"
    );
    assert_eq!(
        controller
            .apply(&endpoint(), &from, &split(&[("blue", 101)], &[]))
            .await,
        Err(ControllerError::InvalidSplit(SplitError::OverHundred(
            "blue".into(),
            101
        )))
    );
    assert_eq!(snapshot(&emu), before);
}

#[tokio::test]
async fn a_busy_endpoint_is_waited_for_then_reported() {
    let emu = start(SCENARIO).await;
    let credential = managed_identity(&emu, &[ARM_SCOPE]).await;
    // Someone's operation hangs: the endpoint stays Updating.
    emu.state
        .inject_fault(&Fault::LroHang { count: 1 })
        .expect("fault");
    let other = ArmClient::new(
        &emu.base_url(),
        credential.clone(),
        ArmOptions {
            lro_timeout: Duration::from_millis(100),
            ..arm_options()
        },
    )
    .expect("client");
    let mut body = other.get_endpoint(&endpoint()).await.expect("GET").raw;
    body["properties"]["traffic"] = serde_json::json!({"blue": 50, "green": 50});
    assert_eq!(
        other.put_endpoint(&endpoint(), &body).await.expect("PUT"),
        LroOutcome::TimedOut
    );
    let controller = controller_with(
        &emu,
        credential,
        ControllerOptions {
            busy_timeout: Duration::from_millis(100),
            ..options()
        },
    );
    let before = snapshot(&emu);
    let error = controller
        .apply(
            &endpoint(),
            &Split::all_to("blue"),
            &split(&[("blue", 90), ("green", 10)], &[]),
        )
        .await
        .expect_err("busy");
    assert!(
        matches!(&error, ControllerError::EndpointBusy { state, .. } if state == "Updating"),
        "{error:?}"
    );
    assert_eq!(snapshot(&emu), before);
}

#[tokio::test]
async fn a_refused_identity_moves_nothing() {
    let emu = start(SCENARIO).await;
    let _env = IDENTITY_ENV.lock().await;
    set_identity_env(&emu, "not-the-secret");
    let credential = build_credential(&CredentialConfig::default()).expect("managed identity");
    let controller = controller_with(&emu, credential, options());
    let before = snapshot(&emu);
    let error = controller
        .apply(
            &endpoint(),
            &Split::all_to("blue"),
            &split(&[("blue", 90), ("green", 10)], &[]),
        )
        .await
        .expect_err("no token");
    assert!(
        matches!(error, ControllerError::Azure(AzureError::Credential(_))),
        "{error:?}"
    );
    assert_eq!(snapshot(&emu), before);
}
