//! Scenario files: parse errors name the position and the fix; a valid scenario loads the
//! world, the split history, the log contexts and the settings.

use azure_emulator::model::Actor;
use azure_emulator::scenario::ScenarioError;
use azure_emulator::{Clock, EmulatorState, Scenario};
use time::macros::datetime;

const VALID: &str = "\
seed: 3
settings:
  retention_s: 600
endpoints:
  - name: my-ep
    subscription: 11111111-2222-4333-8444-555555555555
    resource_group: rg
    workspace: ws
    traffic: {blue: 90, Green: 10}
    mirror_traffic: {shadow: 20}
    rate: {steady: {rps: 5}}
    deployments:
      - name: blue
        latency: {median_ms: 50, sigma: 0.3}
      - name: green
        latency: {median_ms: 50, sigma: 0.3}
      - name: shadow
        latency: {median_ms: 50, sigma: 0.3}
changes:
  - at_s: 10
    endpoint: my-ep
    deployment: green
    latency_multiplier: 1.3
";

/// `VALID` with `from` replaced by `to`; panics if `from` is absent so a typo can't make a
/// test pass vacuously.
fn variant(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "test bug: {from:?} not in VALID");
    VALID.replacen(from, to, 1)
}

fn invalid(yaml: &str) -> (Option<(usize, usize)>, String) {
    match Scenario::from_yaml_str(yaml) {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(ScenarioError::Invalid {
            position, message, ..
        }) => (position, message),
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

#[test]
fn valid_scenario_parses_with_lowercased_split_keys() {
    let s = Scenario::from_yaml_str(VALID).unwrap();
    assert_eq!(s.seed, 3);
    assert_eq!(s.settings.retention_s, 600.0);
    let ep = &s.endpoints[0];
    assert_eq!(ep.traffic.get("green"), Some(&10));
    assert_eq!(ep.deployments.len(), 3);
    assert_eq!(s.changes[0].latency_multiplier.map(|m| m.get()), Some(1.3));
}

#[test]
fn unknown_field_is_reported_at_its_line_and_column() {
    let yaml = variant(
        "latency: {median_ms: 50, sigma: 0.3}\n      - name: green",
        "latency: {median_ms: 50, sigmaa: 0.3}\n      - name: green",
    );
    let (position, message) = invalid(&yaml);
    // Line 14 is blue's latency; the flow mapping starts at column 18.
    let (line, column) = position.expect("position");
    assert_eq!(line, 14, "{message}");
    assert!(column >= 18, "{column}: {message}");
    assert!(message.contains("sigmaa"), "{message}");
    assert!(message.contains("fix:"), "{message}");
}

#[test]
fn display_names_file_line_and_column() {
    let err = Scenario::from_yaml_str(&variant("seed: 3", "seed: 3\nsed: 4")).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("<scenario>:2:1: "), "{text}");
    assert!(text.contains("unknown field `sed`"), "{text}");
}

#[test]
fn negative_rate_is_rejected_at_the_value() {
    let (position, message) = invalid(&variant("rps: 5", "rps: -5"));
    assert_eq!(position, Some((11, 26)), "{message}");
    assert!(message.contains("-5"), "{message}");
    assert!(message.contains("fix:"), "{message}");
}

#[test]
fn non_positive_sigma_is_rejected() {
    for bad in ["0", "-0.1"] {
        let yaml = variant(
            "sigma: 0.3}\n      - name: green",
            &format!("sigma: {bad}}}\n      - name: green"),
        );
        let (position, message) = invalid(&yaml);
        assert_eq!(position.map(|p| p.0), Some(14), "{message}");
        assert!(message.contains("greater than 0"), "{message}");
    }
}

#[test]
fn out_of_range_probabilities_are_rejected() {
    let yaml = variant(
        "latency: {median_ms: 50, sigma: 0.3}\n      - name: shadow",
        "latency: {median_ms: 50, sigma: 0.3}\n        error_rate_5xx: 1.5\n      - name: shadow",
    );
    let (_, message) = invalid(&yaml);
    assert!(message.contains("probability"), "{message}");

    let yaml = variant(
        "latency: {median_ms: 50, sigma: 0.3}\n      - name: shadow",
        "latency: {median_ms: 50, sigma: 0.3}\n        error_rate_5xx: 0.6\n        model_error_rate: 0.6\n      - name: shadow",
    );
    let (_, message) = invalid(&yaml);
    assert!(message.contains("at most 1"), "{message}");
}

#[test]
fn split_rules_are_enforced() {
    let cases = [
        (
            "{blue: 90, Green: 10}",
            "{blue: 80, green: 10}",
            "sums to 90",
        ),
        ("{blue: 90, Green: 10}", "{blue: 90, gren: 10}", "'gren'"),
        ("{shadow: 20}", "{shadow: 60}", "at most 50"),
        (
            "{shadow: 20}",
            "{shadow: 10, blue: 10}",
            "both live and mirrored",
        ),
        (
            "{shadow: 20}",
            "{shadow: 10, green: 0, ghost: 5}",
            "'ghost'",
        ),
    ];
    for (from, to, expected) in cases {
        let (position, message) = invalid(&variant(from, to));
        assert!(message.contains(expected), "{to}: {message}");
        assert!(message.contains("fix:"), "{to}: {message}");
        // Reported at the endpoint that breaks the rule (line 5).
        assert_eq!(position.map(|p| p.0), Some(5), "{to}: {message}");
    }
}

#[test]
fn mirror_to_two_deployments_is_rejected() {
    let yaml = variant("traffic: {blue: 90, Green: 10}", "traffic: {blue: 100}").replacen(
        "{shadow: 20}",
        "{shadow: 10, green: 10}",
        1,
    );
    let (_, message) = invalid(&yaml);
    assert!(message.contains("more than one"), "{message}");
}

#[test]
fn traffic_to_a_deployment_still_creating_is_rejected() {
    let yaml = variant(
        "      - name: green\n",
        "      - name: green\n        provisioning_state: Creating\n",
    );
    let (_, message) = invalid(&yaml);
    assert!(message.contains("Creating"), "{message}");
}

#[test]
fn change_naming_an_unknown_endpoint_points_at_the_change() {
    let (position, message) = invalid(&variant("endpoint: my-ep", "endpoint: my-epp"));
    assert_eq!(position, Some((21, 5)), "{message}");
    assert!(
        message.contains("my-epp") && message.contains("my-ep]"),
        "{message}"
    );
}

#[test]
fn change_naming_an_unknown_deployment_points_at_the_field() {
    let (position, message) = invalid(&variant("deployment: green", "deployment: grene"));
    assert_eq!(position, Some((22, 5)), "{message}");
    assert!(message.contains("blue, green, shadow"), "{message}");
}

#[test]
fn latency_change_without_a_deployment_is_rejected() {
    let (_, message) = invalid(&variant("    deployment: green\n", ""));
    assert!(message.contains("needs `deployment`"), "{message}");
}

#[test]
fn bad_guid_and_bad_names_are_rejected() {
    let (position, message) = invalid(&variant(
        "11111111-2222-4333-8444-555555555555",
        "not-a-guid",
    ));
    assert!(message.contains("not a GUID"), "{message}");
    assert_eq!(position, Some((6, 19)), "{message}");

    let (_, message) = invalid(&variant("name: my-ep", "name: 9ep"));
    assert!(message.contains("starting with a letter"), "{message}");
}

#[test]
fn unknown_rate_kind_lists_the_valid_ones() {
    let (_, message) = invalid(&variant("{steady: {rps: 5}}", "{constant: {rps: 5}}"));
    assert!(
        message.contains("steady") && message.contains("bursty"),
        "{message}"
    );
}

#[test]
fn scheduled_fault_must_name_existing_resources() {
    let yaml = format!(
        "{VALID}faults:\n  - at_s: 5\n    fault: {{kind: deployment_failed, endpoint: my-ep, deployment: purple}}\n"
    );
    let (position, message) = invalid(&yaml);
    assert!(message.contains("purple"), "{message}");
    assert_eq!(position, Some((26, 5)), "{message}");
}

#[test]
fn from_file_names_the_file() {
    let dir = std::env::temp_dir().join(format!("e3-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.yaml");
    std::fs::write(&path, variant("rps: 5", "rps: -1")).unwrap();
    let text = Scenario::from_file(&path).unwrap_err().to_string();
    assert!(
        text.starts_with(&format!("{}:11:", path.display())),
        "{text}"
    );
    let missing = Scenario::from_file(dir.join("absent.yaml")).unwrap_err();
    assert!(matches!(missing, ScenarioError::Read { .. }), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shipped_example_scenarios_parse_and_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let scenario = Scenario::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            let state =
                EmulatorState::new(Clock::manual(datetime!(2026-01-01 00:00 UTC)), "h".into());
            scenario.load_into(&state).unwrap();
            assert_eq!(state.world().endpoints.len(), scenario.endpoints.len());
            count += 1;
        }
    }
    assert!(count >= 3, "found {count} example scenarios");
}

#[test]
fn demo_scenario_has_a_good_and_a_bad_endpoint() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/demo.yaml");
    let s = Scenario::from_file(path).unwrap();
    let good = s.endpoint("good-ep").unwrap();
    assert_eq!(
        good.deployment("blue").unwrap().behaviour,
        good.deployment("green").unwrap().behaviour
    );
    let bad = s.endpoint("bad-ep").unwrap();
    let change = s.changes.iter().find(|c| c.endpoint == "bad-ep").unwrap();
    assert_eq!(change.deployment.as_deref(), Some("green"));
    assert_eq!(change.latency_multiplier.map(|m| m.get()), Some(1.3));
    let before = bad
        .deployment("green")
        .unwrap()
        .behaviour
        .error_rate_5xx
        .get();
    assert!(change.error_rate_5xx.unwrap().get() > before);
}

#[test]
fn load_into_builds_the_world_history_logs_and_settings() {
    let start = datetime!(2026-01-01 00:00 UTC);
    let state = EmulatorState::new(Clock::manual(start), "h".into());
    let scenario = Scenario::from_yaml_str(VALID).unwrap();
    scenario.load_into(&state).unwrap();
    assert_eq!(state.settings().retention_s, 600.0);
    {
        let world = state.world();
        let key = world.key_by_name("MY-EP").expect("endpoint loaded");
        let ep = world.endpoint(&key).unwrap();
        assert_eq!(ep.traffic.get("blue"), Some(&90));
        assert_eq!(ep.mirror_traffic.get("shadow"), Some(&20));
        assert_eq!(ep.deployments.len(), 3);
        assert_eq!(ep.key.subscription, "11111111-2222-4333-8444-555555555555");
        assert!(ep.deployment("Green").unwrap().model.contains("/models/"));
        assert_eq!(world.history.len(), 1);
        assert_eq!(world.history[0].actor, Actor::Scenario);
        assert_eq!(world.history[0].at, start);
    }
    let snapshot = state.logs.snapshot();
    let ctx = snapshot.endpoint(0).expect("log context registered");
    assert_eq!(ctx.endpoint_name, "my-ep");
    assert_eq!(
        ctx.log_analytics_workspace_id,
        azure_emulator::scenario::DEFAULT_LOG_ANALYTICS_WORKSPACE_ID
    );
    assert!(ctx.resource_id.ends_with("/onlineEndpoints/my-ep"));
    assert!(state.traffic.is_installed());

    // Loading again replaces the world instead of adding to it.
    scenario.load_into(&state).unwrap();
    assert_eq!(state.world().history.len(), 1);
}

#[test]
fn out_of_range_settings_and_offsets_are_rejected() {
    let (position, message) = invalid(&variant("retention_s: 600", "retention_s: 0"));
    assert_eq!(position, Some((3, 3)), "{message}");
    assert!(message.contains("retention_s"), "{message}");

    let (position, message) = invalid(&variant("at_s: 10", "at_s: 1e12"));
    assert_eq!(position, Some((20, 5)), "{message}");
    assert!(message.contains("ten years"), "{message}");
}
