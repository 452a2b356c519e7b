//! Shared helpers for the emulator's integration tests: start an emulator on loopback and get
//! bearer tokens from it through the real `azure_identity::ManagedIdentityCredential`.
#![allow(dead_code)]

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_emulator::{Clock, EmulatorOptions, RunningEmulator, Scenario};
use azure_identity::ManagedIdentityCredential;

/// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are process-global and tests run in parallel
/// threads. `ManagedIdentityCredential` reads `IDENTITY_ENDPOINT` when it is constructed and
/// `IDENTITY_HEADER` on every token request it does not answer from its cache, so whoever sets
/// them holds this lock over construction and every call that may reach the endpoint.
pub static IDENTITY_ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts an emulator on a free loopback port, with a scenario if one is given.
pub async fn start_emulator(scenario_yaml: Option<&str>, clock: Clock) -> RunningEmulator {
    let scenario = scenario_yaml.map(|yaml| match Scenario::from_yaml_str(yaml) {
        Ok(s) => s,
        Err(e) => panic!("test scenario does not parse: {e}"),
    });
    azure_emulator::start(EmulatorOptions {
        clock,
        scenario,
        ..EmulatorOptions::default()
    })
    .await
    .expect("the emulator starts on loopback")
}

/// Points the managed-identity environment at `emu`. Hold [`IDENTITY_ENV`] while the
/// credential built after this is in use.
pub fn set_identity_env(emu: &RunningEmulator) {
    let endpoint = format!("{}{}", emu.base_url(), azure_emulator::IDENTITY_PATH);
    // SAFETY: every writer and reader of these variables in the test binary holds IDENTITY_ENV.
    unsafe {
        std::env::set_var("IDENTITY_ENDPOINT", endpoint);
        std::env::set_var("IDENTITY_HEADER", &emu.state.identity_header);
    }
}

/// A fresh credential for `emu`; the caller holds [`IDENTITY_ENV`].
pub fn credential_for(emu: &RunningEmulator) -> Arc<ManagedIdentityCredential> {
    set_identity_env(emu);
    ManagedIdentityCredential::new(None).expect("the App Service managed identity is configured")
}

/// A token for `resource` (e.g. `https://management.azure.com`) from `emu`, obtained through
/// the real `ManagedIdentityCredential` with scope `{resource}/.default`.
pub async fn bearer(emu: &RunningEmulator, resource: &str) -> String {
    let _env = IDENTITY_ENV.lock().await;
    let credential = credential_for(emu);
    let scope = format!("{}/.default", resource.trim_end_matches('/'));
    let token = credential
        .get_token(&[scope.as_str()], None)
        .await
        .expect("the emulator issues a token");
    token.token.secret().to_string()
}

/// A plain HTTP client for the emulator (loopback, plain HTTP). Loading the platform's root
/// certificates costs tens of milliseconds per client and is never needed here.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(Vec::new())
        .build()
        .expect("a reqwest client")
}

pub const SUB: &str = "00000000-0000-4000-8000-0000000000aa";
pub const RG: &str = "rg-canary";
pub const WS: &str = "ws-canary";
pub const EP: &str = "my-ep";
pub const ML_API: &str = "2025-12-01";

/// The endpoint's ARM path (no host, no query).
pub fn endpoint_path() -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}/onlineEndpoints/{EP}"
    )
}

/// Builds a small world directly: endpoint `my-ep` in eastus with deployments `blue`
/// (100 % live), `green` and `shadow` (Succeeded) and `broken` (Failed), plus any `extra`
/// Succeeded deployments.
pub fn seed_world(emu: &RunningEmulator, extra: &[&str]) {
    use azure_emulator::model::{Deployment, Endpoint, EndpointKey, ProvisioningState};
    let now = emu.state.now();
    let key = EndpointKey::new(SUB, RG, WS, EP);
    let mut deployments = std::collections::BTreeMap::new();
    let names = ["blue", "green", "shadow", "broken"]
        .into_iter()
        .chain(extra.iter().copied());
    for name in names {
        deployments.insert(
            name.to_ascii_lowercase(),
            Deployment {
                name: name.to_string(),
                provisioning_state: if name == "broken" {
                    ProvisioningState::Failed
                } else {
                    ProvisioningState::Succeeded
                },
                capacity: 2,
                instance_type: "Standard_DS3_v2".into(),
                model: format!(
                    "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}/models/m/versions/3"
                ),
                created_at: now - time::Duration::hours(2),
            },
        );
    }
    let endpoint = Endpoint {
        key: key.clone(),
        name: EP.into(),
        location: "eastus".into(),
        auth_mode: "Key".into(),
        description: None,
        tags: serde_json::Map::new(),
        provisioning_state: ProvisioningState::Succeeded,
        traffic: [("blue".to_string(), 100)].into_iter().collect(),
        mirror_traffic: Default::default(),
        deployments,
        principal_id: "11111111-2222-4333-8444-555555555555".into(),
        tenant_id: "0d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a".into(),
        last_modified_at: now,
        last_modified_by: "scenario".into(),
    };
    emu.state.world().endpoints.insert(key, endpoint);
}

/// A manual clock at a round time, so minute buckets are easy to reason about.
pub fn manual_clock() -> Clock {
    Clock::manual(time::macros::datetime!(2026-01-01 00:00 UTC))
}

/// One request row to append: seconds after `at`, deployment, response code, model status
/// code, total duration in ms.
pub type TestRow<'a> = (f64, &'a str, u16, u16, u32);

/// Appends rows for `my-ep` to the log store, timed relative to `at`.
pub fn append_rows(emu: &RunningEmulator, at: time::OffsetDateTime, rows: &[TestRow<'_>]) {
    use azure_emulator::model::{EndpointLogContext, RequestRow};
    let endpoint = emu.state.logs.endpoint_id(EndpointLogContext {
        log_analytics_workspace_id: "5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11".into(),
        endpoint_name: EP.into(),
        workspace_id: "6c2d1f0e-7a3d-4e61-9c1a-2f4d6b8a0c12".into(),
        workspace_name: WS.into(),
        location: "eastus".into(),
        resource_id: endpoint_path(),
        tenant_id: "0d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a".into(),
    });
    let base_us = azure_emulator::clock::unix_us(at);
    let mut sorted: Vec<&TestRow<'_>> = rows.iter().collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let rows: Vec<RequestRow> = sorted
        .into_iter()
        .enumerate()
        .map(
            |(i, (offset_s, deployment, code, model_code, ms))| RequestRow {
                time_us: base_us + (offset_s * 1e6) as i64,
                seq: i as u64,
                mirror_of: None,
                endpoint,
                deployment: emu.state.logs.intern(deployment),
                response_code: *code,
                model_status_code: *model_code,
                total_duration_ms: *ms,
                request_duration_ms: 1,
                response_duration_ms: ms.saturating_sub(2),
                request_throttling_delay_ms: 0,
                response_throttling_delay_ms: 0,
                request_payload_size: 100,
                response_payload_size: 200,
            },
        )
        .collect();
    emu.state.logs.append(&rows);
}

/// Moves the emulator's manual clock through the control API.
pub async fn advance(emu: &RunningEmulator, seconds: f64) {
    let r = http()
        .post(format!("{}/_emulator/clock/advance", emu.base_url()))
        .json(&serde_json::json!({ "seconds": seconds }))
        .send()
        .await
        .expect("control API answers");
    assert_eq!(r.status(), 200, "clock advance");
}

/// Injects a fault through the control API.
pub async fn inject(emu: &RunningEmulator, fault: serde_json::Value) {
    let r = http()
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .json(&fault)
        .send()
        .await
        .expect("control API answers");
    assert_eq!(r.status(), 200, "fault injection");
}
