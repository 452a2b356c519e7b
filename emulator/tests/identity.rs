//! The managed-identity endpoint, exercised through the real `azure_identity` credential and
//! through raw HTTP.

mod common;

use azure_core::credentials::TokenCredential;
use azure_emulator::{ARM_RESOURCE, IDENTITY_PATH, LOG_ANALYTICS_RESOURCE};
use common::*;
use serde_json::Value;

#[tokio::test]
async fn the_real_credential_gets_tokens_bound_to_their_audience() {
    let emu = start_emulator(None, manual_clock()).await;
    seed_world(&emu, &[]);
    let arm = bearer(&emu, ARM_RESOURCE).await;
    let la = bearer(&emu, LOG_ANALYTICS_RESOURCE).await;
    assert_ne!(arm, la);
    assert_eq!(emu.state.tokens.issued_count(), 2);

    let url = format!("{}{}?api-version={ML_API}", emu.base_url(), endpoint_path());
    let ok = http().get(&url).bearer_auth(&arm).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let wrong = http().get(&url).bearer_auth(&la).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
}

#[tokio::test]
async fn raw_token_response_has_the_app_service_shape() {
    let emu = start_emulator(None, manual_clock()).await;
    let url = format!("{}{IDENTITY_PATH}", emu.base_url());
    let before = time::OffsetDateTime::now_utc().unix_timestamp();
    let response = http()
        .get(&url)
        .query(&[
            ("api-version", "2019-08-01"),
            ("resource", "https://management.azure.com/"),
        ])
        .header("metadata", "true")
        .header("x-identity-header", &emu.state.identity_header)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], "https://management.azure.com/");
    let expires_on: i64 = body["expires_on"]
        .as_str()
        .expect("expires_on is a string")
        .parse()
        .unwrap();
    let lifetime = emu.state.settings().token_lifetime_s as i64;
    assert!((before + lifetime..=before + lifetime + 5).contains(&expires_on));
    // The trailing-slash spelling is the same ARM audience.
    let token = body["access_token"].as_str().unwrap();
    let ep = format!(
        "{}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}/onlineEndpoints/nope?api-version={ML_API}",
        emu.base_url()
    );
    let r = http().get(&ep).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 404, "authenticated, then not found");
}

#[tokio::test]
async fn a_missing_or_wrong_identity_header_is_refused() {
    let emu = start_emulator(None, manual_clock()).await;
    let url = format!("{}{IDENTITY_PATH}", emu.base_url());
    let query = [("api-version", "2019-08-01"), ("resource", ARM_RESOURCE)];
    let missing = http().get(&url).query(&query).send().await.unwrap();
    assert_eq!(missing.status(), 400);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["statusCode"], 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("X-IDENTITY-HEADER")
    );

    let wrong = http()
        .get(&url)
        .query(&query)
        .header("x-identity-header", "not-the-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(emu.state.tokens.issued_count(), 0);

    let no_version = http()
        .get(&url)
        .query(&[("resource", ARM_RESOURCE)])
        .header("x-identity-header", &emu.state.identity_header)
        .send()
        .await
        .unwrap();
    assert_eq!(no_version.status(), 400);
    let unknown_resource = http()
        .get(&url)
        .query(&[
            ("api-version", "2019-08-01"),
            ("resource", "https://vault.azure.net"),
        ])
        .header("x-identity-header", &emu.state.identity_header)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_resource.status(), 400);
}

#[tokio::test]
async fn the_real_credential_fails_with_a_wrong_identity_header() {
    let emu = start_emulator(None, manual_clock()).await;
    let _env = IDENTITY_ENV.lock().await;
    let credential = credential_for(&emu);
    // SAFETY: IDENTITY_ENV is held.
    unsafe { std::env::set_var("IDENTITY_HEADER", "wrong") };
    let result = credential
        .get_token(&["https://management.azure.com/.default"], None)
        .await;
    assert!(
        result.is_err(),
        "a wrong x-identity-header must not yield a token"
    );
    assert_eq!(emu.state.tokens.issued_count(), 0);
}

#[tokio::test]
async fn the_credential_caches_long_lived_tokens_and_refreshes_short_ones() {
    let emu = start_emulator(None, manual_clock()).await;
    let _env = IDENTITY_ENV.lock().await;
    let credential = credential_for(&emu);
    let scope = ["https://management.azure.com/.default"];
    let first = credential.get_token(&scope, None).await.unwrap();
    let second = credential.get_token(&scope, None).await.unwrap();
    assert_eq!(first.token.secret(), second.token.secret());
    assert_eq!(
        emu.state.tokens.issued_count(),
        1,
        "the second call hit the cache"
    );
    let now = time::OffsetDateTime::now_utc();
    assert!(first.expires_on > now + time::Duration::minutes(59));

    // Tokens inside the crate's 300 s refresh window are fetched again on every call.
    let mut settings = emu.state.settings();
    settings.token_lifetime_s = 60;
    emu.state.set_settings(settings);
    let short = credential_for(&emu);
    let a = short.get_token(&scope, None).await.unwrap();
    let b = short.get_token(&scope, None).await.unwrap();
    assert_ne!(a.token.secret(), b.token.secret());
    assert!(a.expires_on <= time::OffsetDateTime::now_utc() + time::Duration::seconds(61));
}

#[tokio::test]
async fn expired_tokens_are_refused_and_the_control_route_expires_them() {
    let emu = start_emulator(None, manual_clock()).await;
    seed_world(&emu, &[]);
    let token = bearer(&emu, ARM_RESOURCE).await;
    let url = format!("{}{}?api-version={ML_API}", emu.base_url(), endpoint_path());
    assert_eq!(
        http()
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let expired: Value = http()
        .post(format!("{}/_emulator/tokens/expire", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(expired["expired"], 1);
    let r = http().get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ExpiredAuthenticationToken");
}

#[tokio::test]
async fn log_analytics_wants_its_own_token_and_answers_in_its_own_shape() {
    let emu = start_emulator(None, manual_clock()).await;
    let arm = bearer(&emu, ARM_RESOURCE).await;
    let la = bearer(&emu, LOG_ANALYTICS_RESOURCE).await;
    let url = format!(
        "{}/v1/workspaces/5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11/query",
        emu.base_url()
    );
    let body =
        serde_json::json!({"query": "AmlOnlineEndpointTrafficLog | count", "timespan": "PT1H"});

    let missing = http().post(&url).json(&body).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert!(missing.headers().contains_key("www-authenticate"));
    let err: Value = missing.json().await.unwrap();
    assert_eq!(err["error"]["code"], "AuthorizationRequiredError");
    assert!(err["error"]["message"].is_string());

    for bad in [arm.as_str(), "garbage"] {
        let r = http()
            .post(&url)
            .bearer_auth(bad)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let err: Value = r.json().await.unwrap();
        assert_eq!(err["error"]["code"], "InvalidTokenError");
    }

    let ok = http()
        .post(&url)
        .bearer_auth(&la)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_ne!(ok.status(), 401, "a Log Analytics token is accepted");

    emu.state.tokens.expire_all();
    let expired = http()
        .post(&url)
        .bearer_auth(&la)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 401);
    let err: Value = expired.json().await.unwrap();
    assert_eq!(err["error"]["code"], "InvalidTokenError");
}
