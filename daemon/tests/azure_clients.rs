//! The Azure clients against the in-process emulator, through the real
//! `ManagedIdentityCredential` built by `build_credential` (IDENTITY_ENDPOINT + IDENTITY_HEADER).

mod common;
use common::*;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_emulator::RunningEmulator;
use azure_emulator::faults::Fault;
use azure_emulator::model::Actor;
use canaryd::azure::arm::{ArmClient, ArmOptions, LroOutcome};
use canaryd::azure::credential::build_credential;
use canaryd::azure::{AzureError, AzureHttp, LOG_ANALYTICS_SCOPE, RetryPolicy};
use canaryd::config::CredentialConfig;
use canaryd::model::{Split, TrafficMap};
use reqwest::Method;
use serde_json::json;

const SCENARIO: &str = r#"
settings:
  lro_duration_s: 5
  lro_retry_after_s: 1
  deployments_page_size: 1
endpoints:
  - name: my-ep
    subscription: 00000000-0000-4000-8000-0000000000aa
    resource_group: rg-canary
    workspace: ws-canary
    traffic: {blue: 90, green: 10}
    mirror_traffic: {shadow: 5}
    rate: {steady: {rps: 1}}
    deployments:
      - name: blue
        capacity: 3
        latency: {median_ms: 50, sigma: 0.3}
      - name: green
        latency: {median_ms: 50, sigma: 0.3}
      - name: shadow
        latency: {median_ms: 50, sigma: 0.3}
      - name: broken
        provisioning_state: Failed
        latency: {median_ms: 50, sigma: 0.3}
"#;

/// Counts token requests: every HTTP attempt asks the credential once, so this counts attempts.
#[derive(Debug)]
struct CountingCredential {
    inner: Arc<dyn TokenCredential>,
    calls: AtomicUsize,
}

impl TokenCredential for CountingCredential {
    fn get_token<'s, 'a, 'b, 'o, 'f>(
        &'s self,
        scopes: &'a [&'b str],
        options: Option<TokenRequestOptions<'o>>,
    ) -> Pin<Box<dyn Future<Output = azure_core::Result<AccessToken>> + Send + 'f>>
    where
        's: 'f,
        'a: 'f,
        'b: 'f,
        'o: 'f,
        Self: 'f,
    {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.get_token(scopes, options)
    }
}

/// The real managed-identity credential for `emu`, built by `build_credential`, with its ARM
/// token already cached (so the environment lock can be released).
async fn credential(emu: &RunningEmulator) -> Arc<CountingCredential> {
    let inner = managed_identity(emu, &[canaryd::azure::ARM_SCOPE, LOG_ANALYTICS_SCOPE]).await;
    Arc::new(CountingCredential {
        inner,
        calls: AtomicUsize::new(0),
    })
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_secs(3),
    }
}

fn arm_options() -> ArmOptions {
    ArmOptions {
        retry: fast_retry(),
        poll_interval_min: Duration::from_millis(5),
        poll_interval_max: Duration::from_millis(20),
        lro_timeout: Duration::from_secs(10),
        ..ArmOptions::default()
    }
}

fn arm(emu: &RunningEmulator, credential: Arc<CountingCredential>) -> ArmClient {
    ArmClient::new(&emu.base_url(), credential, arm_options()).expect("a valid base URL")
}

fn map(pairs: &[(&str, u32)]) -> TrafficMap {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn reads_the_endpoint_with_its_split_and_raw_body() {
    let emu = start(SCENARIO).await;
    let client = arm(&emu, credential(&emu).await);
    let resource = client
        .get_endpoint(&endpoint())
        .await
        .expect("GET endpoint");
    assert_eq!(
        resource.split,
        Split::new(map(&[("blue", 90), ("green", 10)]), map(&[("shadow", 5)]))
    );
    assert_eq!(resource.provisioning_state, "Succeeded");
    assert_eq!(resource.raw["name"], "my-ep");
    assert_eq!(resource.raw["location"], "eastus");
}

#[tokio::test]
async fn lists_deployments_across_pages() {
    let emu = start(SCENARIO).await;
    let credential = credential(&emu).await;
    let client = arm(&emu, credential.clone());
    let deployments = client
        .list_deployments(&endpoint())
        .await
        .expect("list deployments");
    let names: Vec<&str> = deployments.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["blue", "broken", "green", "shadow"]);
    // One page per deployment (page size 1): four requests.
    assert_eq!(credential.calls.load(Ordering::SeqCst), 4);
    let blue = &deployments[0];
    assert_eq!(blue.capacity, Some(3));
    assert!(blue.is_succeeded());
    assert!(blue.model.is_some() && blue.created_at.is_some());
    assert_eq!(deployments[1].provisioning_state, "Failed");
}

#[tokio::test]
async fn put_follows_the_operation_to_success() {
    let emu = start(SCENARIO).await;
    let client = arm(&emu, credential(&emu).await);
    let mut body = client.get_endpoint(&endpoint()).await.expect("GET").raw;
    body["properties"]["traffic"] = json!({"blue": 50, "green": 50});
    body["properties"]["mirrorTraffic"] = json!({});
    let outcome = client
        .put_endpoint(&endpoint(), &body)
        .await
        .expect("PUT endpoint");
    assert_eq!(outcome, LroOutcome::Succeeded);
    let history = emu.state.world().history.clone();
    let last = history.last().expect("a recorded change");
    assert_eq!(last.actor, Actor::Arm);
    assert_eq!(last.new_traffic, map(&[("blue", 50), ("green", 50)]));
    assert!(last.new_mirror_traffic.is_empty());
    let after = client.get_endpoint(&endpoint()).await.expect("GET");
    assert_eq!(after.split.traffic, map(&[("blue", 50), ("green", 50)]));
}

#[tokio::test]
async fn failed_operation_is_reported_not_resent() {
    let emu = start(SCENARIO).await;
    let credential = credential(&emu).await;
    let client = arm(&emu, credential.clone());
    let mut body = client.get_endpoint(&endpoint()).await.expect("GET").raw;
    body["properties"]["traffic"] = json!({"blue": 100});
    emu.state
        .inject_fault(&Fault::LroFail { count: 1 })
        .expect("fault");
    let before = emu.state.world().history.len();
    let outcome = client.put_endpoint(&endpoint(), &body).await.expect("PUT");
    assert!(
        matches!(&outcome, LroOutcome::Failed { code, .. } if code == "InternalServerError"),
        "{outcome:?}"
    );
    assert_eq!(emu.state.world().history.len(), before, "nothing applied");
}

#[tokio::test]
async fn throttling_is_retried_after_retry_after() {
    let emu = start(SCENARIO).await;
    let credential = credential(&emu).await;
    let client = arm(&emu, credential.clone());
    emu.state
        .inject_fault(&Fault::ArmThrottle {
            count: 1,
            retry_after_s: 1,
        })
        .expect("fault");
    let started = Instant::now();
    let resource = client
        .get_endpoint(&endpoint())
        .await
        .expect("GET after 429");
    assert_eq!(resource.split.traffic_of("blue"), 90);
    assert_eq!(credential.calls.load(Ordering::SeqCst), 2, "one retry");
    // The backoff alone (5 ms base) could not account for this: Retry-After was honoured.
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn server_errors_are_retried_even_on_put() {
    let emu = start(SCENARIO).await;
    let credential = credential(&emu).await;
    let client = arm(&emu, credential.clone());
    let mut body = client.get_endpoint(&endpoint()).await.expect("GET").raw;
    body["properties"]["traffic"] = json!({"blue": 100});
    body["properties"]["mirrorTraffic"] = json!({});
    emu.state
        .inject_fault(&Fault::ArmError {
            status: 503,
            count: 1,
        })
        .expect("fault");
    let started = Instant::now();
    let outcome = client.put_endpoint(&endpoint(), &body).await.expect("PUT");
    assert_eq!(outcome, LroOutcome::Succeeded);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1"
    );
    let arm_changes = emu
        .state
        .world()
        .history
        .iter()
        .filter(|c| c.actor == Actor::Arm)
        .count();
    assert_eq!(arm_changes, 1, "the refused PUT started nothing");
}

#[tokio::test]
async fn persistent_server_errors_surface_after_max_attempts() {
    let emu = start(SCENARIO).await;
    let credential = credential(&emu).await;
    let options = ArmOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(2),
        },
        ..arm_options()
    };
    let client = ArmClient::new(&emu.base_url(), credential.clone(), options).expect("client");
    emu.state
        .inject_fault(&Fault::ArmError {
            status: 500,
            count: 5,
        })
        .expect("fault");
    let error = client.get_endpoint(&endpoint()).await.expect_err("500s");
    assert!(
        matches!(&error, AzureError::Status { status: 500, code, .. } if code == "InternalServerError"),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert_eq!(credential.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retry_after_beyond_the_policy_fails_fast() {
    let emu = start(SCENARIO).await;
    let credential = credential(&emu).await;
    let client = arm(&emu, credential.clone());
    emu.state
        .inject_fault(&Fault::ArmThrottle {
            count: 1,
            retry_after_s: 600,
        })
        .expect("fault");
    let error = client.get_endpoint(&endpoint()).await.expect_err("429");
    assert!(error.is_throttled(), "{error:?}");
    assert_eq!(credential.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_token_for_another_api_is_unauthorized_without_retry() {
    let emu = start(SCENARIO).await;
    let credential = credential(&emu).await;
    // A Log Analytics token on ARM: 401 InvalidAuthenticationTokenAudience.
    let http = AzureHttp::new(credential.clone(), LOG_ANALYTICS_SCOPE, fast_retry());
    let url = format!(
        "{}{}?api-version=2025-12-01",
        emu.base_url(),
        endpoint().resource_id()
    );
    let error = http
        .send(Method::GET, &url, None)
        .await
        .expect_err("wrong audience");
    assert!(
        matches!(&error, AzureError::Unauthorized { code, .. } if code == "InvalidAuthenticationTokenAudience"),
        "{error:?}"
    );
    assert_eq!(credential.calls.load(Ordering::SeqCst), 1, "no retry");
}

#[tokio::test]
async fn a_wrong_identity_header_is_a_credential_error_without_retry() {
    let emu = start(SCENARIO).await;
    let _env = IDENTITY_ENV.lock().await;
    set_identity_env(&emu, "not-the-secret");
    let inner = build_credential(&CredentialConfig::default()).expect("managed identity builds");
    let credential = Arc::new(CountingCredential {
        inner,
        calls: AtomicUsize::new(0),
    });
    let client = arm(&emu, credential.clone());
    let before = emu.state.world().history.len();
    let error = client
        .put_endpoint(&endpoint(), &json!({"location": "eastus", "properties": {"authMode": "Key", "traffic": {"green": 100}}}))
        .await
        .expect_err("no token");
    assert!(matches!(error, AzureError::Credential(_)), "{error:?}");
    assert!(!error.to_string().contains("not-the-secret"));
    assert_eq!(credential.calls.load(Ordering::SeqCst), 1, "no retry");
    assert_eq!(emu.state.world().history.len(), before);
}

#[tokio::test]
async fn a_client_secret_credential_needs_its_fields() {
    let config = CredentialConfig {
        kind: canaryd::config::CredentialKind::ClientSecret,
        tenant_id: Some("0d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a".into()),
        client_id: Some("app".into()),
        client_secret: None,
        authority_host: None,
    };
    let error = build_credential(&config).expect_err("no secret");
    assert!(error.to_string().contains("client_secret"), "{error}");
    let insecure = CredentialConfig {
        client_secret: Some("s3cr3t-value".into()),
        authority_host: Some("http://login.example".into()),
        ..config
    };
    let error = build_credential(&insecure).expect_err("http authority");
    assert!(error.to_string().contains("https://"), "{error}");
    assert!(!error.to_string().contains("s3cr3t-value"));
    assert!(!format!("{insecure:?}").contains("s3cr3t-value"));
}
