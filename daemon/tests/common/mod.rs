//! Shared set-up for the daemon's tests against the in-process emulator: the emulator itself,
//! and the real managed-identity credential pointed at it.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_emulator::{Clock, EmulatorOptions, RunningEmulator, Scenario};
use canaryd::azure::credential::build_credential;
use canaryd::config::CredentialConfig;
use canaryd::model::EndpointRef;

/// IDENTITY_ENDPOINT / IDENTITY_HEADER are process-global and tests run in parallel threads:
/// whoever sets them holds this lock until the credential has cached its tokens.
pub static IDENTITY_ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The endpoint the test scenarios define.
pub fn endpoint() -> EndpointRef {
    EndpointRef {
        subscription: "00000000-0000-4000-8000-0000000000aa".into(),
        resource_group: "rg-canary".into(),
        workspace: "ws-canary".into(),
        endpoint: "my-ep".into(),
    }
}

/// An emulator loaded with `scenario_yaml`, 1000 simulated seconds per wall second (a 5 s
/// long-running operation takes 5 ms).
pub async fn start(scenario_yaml: &str) -> RunningEmulator {
    let scenario = Scenario::from_yaml_str(scenario_yaml).expect("test scenario parses");
    azure_emulator::start(EmulatorOptions {
        clock: Clock::scaled(time::macros::datetime!(2026-01-01 00:00 UTC), 1000.0),
        scenario: Some(scenario),
        ..EmulatorOptions::default()
    })
    .await
    .expect("the emulator starts on loopback")
}

/// Points the managed-identity environment at `emu`. Hold [`IDENTITY_ENV`] while calling it.
pub fn set_identity_env(emu: &RunningEmulator, header: &str) {
    let endpoint = format!("{}{}", emu.base_url(), azure_emulator::IDENTITY_PATH);
    // SAFETY: every reader and writer of these variables in this binary holds IDENTITY_ENV.
    unsafe {
        std::env::set_var("IDENTITY_ENDPOINT", endpoint);
        std::env::set_var("IDENTITY_HEADER", header);
    }
}

/// The real managed-identity credential built by `build_credential` for `emu`, with a token
/// for each of `scopes` already cached (so the environment lock can be released).
pub async fn managed_identity(emu: &RunningEmulator, scopes: &[&str]) -> Arc<dyn TokenCredential> {
    let _env = IDENTITY_ENV.lock().await;
    set_identity_env(emu, &emu.state.identity_header);
    let credential = build_credential(&CredentialConfig::default()).expect("managed identity");
    for scope in scopes {
        credential
            .get_token(&[scope], None)
            .await
            .expect("the emulator issues a token");
    }
    credential
}
