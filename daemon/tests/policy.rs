//! Policy files: the examples load, defaults, durations, and every validation rule reports
//! `file:line:column` with a fix.

use std::path::{Path, PathBuf};
use std::time::Duration;

use canaryd::judge::JudgeMethod;
use canaryd::policy::{
    self, DeploymentSelector, GateConfirm, GateTimeoutAction, Gates, InconclusiveAction,
    PolicyError, SourceSpec, load_dir, load_file, parse_str,
};
use time::macros::datetime;

const TARGET: &str = "\
target:
  subscription: 00000000-0000-4000-8000-0000000000aa
  resource_group: rg
  workspace: ws
  endpoint: ep
source:
  log_analytics:
    workspace_id: 5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11
";
/// Lines taken by TARGET; the next line is this + 1.
const TARGET_LINES: usize = 8;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

fn parse(text: &str) -> Result<policy::Policy, PolicyError> {
    parse_str(text, Path::new("p.yaml"))
}

fn error(text: &str) -> PolicyError {
    match parse(text) {
        Ok(policy) => panic!("expected an error, got {policy:?}"),
        Err(error) => error,
    }
}

/// Asserts the error's position, that the message mentions `needle`, and that it has a fix.
fn assert_error(error: &PolicyError, line: usize, column: usize, needle: &str) {
    assert_eq!(
        error.position,
        Some((line, column)),
        "wrong position for: {error}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("p.yaml:{line}:{column}: ")),
        "{text}"
    );
    assert!(text.contains(needle), "expected '{needle}' in: {text}");
    assert!(text.contains(" — fix: "), "{text}");
    assert!(!error.fix.trim().is_empty(), "{text}");
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("canaryd-policy-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write policy");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn every_example_loads_and_passes_check() {
    let results = load_dir(examples_dir());
    let names: Vec<String> = results
        .iter()
        .map(|(path, _)| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "default.yaml",
        "shadow-first.yaml",
        "azure-monitor-kayenta.yaml",
        "absolute-thresholds.yaml",
        "judge-example.yaml",
        "gated-business-hours.yaml",
    ] {
        assert!(names.contains(&expected.to_string()), "{names:?}");
    }
    for (path, result) in &results {
        if let Err(error) = result {
            panic!("{} does not load: {error}", path.display());
        }
    }
    let paths: Vec<PathBuf> = results.into_iter().map(|(path, _)| path).collect();
    let mut out = Vec::new();
    let ok = canaryd::cli::check::run_to(&paths, false, &mut out).expect("check runs");
    let printed = String::from_utf8(out).expect("utf-8");
    assert!(ok, "{printed}");
    assert_eq!(printed.lines().count(), paths.len(), "{printed}");
    assert!(printed.lines().all(|l| l.starts_with("OK ")), "{printed}");
    assert!(printed.contains("steps 5→10→25→50→100"), "{printed}");
}

#[test]
fn default_example_spells_out_the_defaults() {
    let spelled = load_file(examples_dir().join("default.yaml")).expect("default.yaml loads");
    let minimal = parse(TARGET).expect("target and source suffice");
    assert_eq!(spelled.plan, minimal.plan);
    assert_eq!(spelled.failure, minimal.failure);
    assert_eq!(spelled.after_promotion, minimal.after_promotion);
    assert_eq!(spelled.source, minimal.source);
    assert_eq!(spelled.judge, minimal.judge);
    assert_eq!(spelled.baseline, DeploymentSelector::Auto);
    assert_eq!(spelled.canary, DeploymentSelector::Auto);
}

#[test]
fn defaults_are_the_documented_ones() {
    let policy = parse(TARGET).expect("valid");
    assert_eq!(policy.name, "p");
    let steps: Vec<u32> = policy
        .plan
        .steps
        .iter()
        .map(|s| s.traffic_percent)
        .collect();
    assert_eq!(steps, [5, 10, 25, 50, 100]);
    assert!(
        policy
            .plan
            .steps
            .iter()
            .all(|s| s.min_duration == Duration::from_secs(300) && s.min_canary_requests == 200)
    );
    assert_eq!(policy.plan.interval, Duration::from_secs(60));
    assert_eq!(policy.plan.deadline, Duration::from_secs(4 * 3600));
    assert!(policy.plan.early_promotion);
    assert!(policy.plan.shadow.is_none());
    assert_eq!(policy.failure.source_error_grace, Duration::from_secs(900));
    assert_eq!(policy.failure.on_inconclusive, InconclusiveAction::Advance);
    assert_eq!(
        policy.failure.inconclusive_limit,
        Some(Duration::from_secs(1800))
    );
    assert_eq!(
        policy.failure.on_inconclusive_timeout,
        InconclusiveAction::RollBack
    );
    assert_eq!(policy.after_promotion.bake_time, Duration::from_secs(1800));
    assert_eq!(policy.judge.method, JudgeMethod::Sequential);
    match &policy.source {
        SourceSpec::LogAnalytics {
            ingestion_delay,
            query,
            ..
        } => {
            assert_eq!(*ingestion_delay, Duration::from_secs(300));
            assert!(query.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(policy.target.endpoint, "ep");
    // sha256 of the exact bytes.
    assert_eq!(policy.content_hash, policy::content_hash(TARGET.as_bytes()));
    assert_eq!(policy.content_hash.len(), 64);
    assert_ne!(
        policy.content_hash,
        policy::content_hash(format!("{TARGET}\n").as_bytes())
    );
}

#[test]
fn azure_monitor_default_delay_and_named_deployments() {
    let policy = load_file(examples_dir().join("azure-monitor-kayenta.yaml")).expect("loads");
    assert_eq!(
        policy.source,
        SourceSpec::AzureMonitor {
            ingestion_delay: Duration::from_secs(180)
        }
    );
    let policy = load_file(examples_dir().join("shadow-first.yaml")).expect("loads");
    assert_eq!(policy.baseline, DeploymentSelector::Named("blue".into()));
    assert_eq!(policy.canary, DeploymentSelector::Named("green".into()));
    let shadow = policy.plan.shadow.as_ref().expect("shadow phase");
    assert_eq!(shadow.mirror_percent, 10);
    assert_eq!(shadow.duration, Duration::from_secs(900));
    // Per-step overrides and plan-level defaults.
    assert_eq!(policy.plan.steps[2].min_duration, Duration::from_secs(900));
    assert_eq!(policy.plan.steps[3].min_canary_requests, 5000);
    assert_eq!(policy.plan.steps[0].min_duration, Duration::from_secs(600));
    assert_eq!(policy.plan.steps[0].min_canary_requests, 200);
}

#[test]
fn durations_accept_units_and_iso_and_refuse_bare_numbers() {
    let text = format!(
        "{TARGET}plan:\n  interval: PT2M\n  min_duration: 1h30m\n  deadline: 1d\nafter_promotion:\n  bake_time: 90s\n"
    );
    let policy = parse(&text).expect("valid");
    assert_eq!(policy.plan.interval, Duration::from_secs(120));
    assert_eq!(policy.plan.steps[0].min_duration, Duration::from_secs(5400));
    assert_eq!(policy.plan.deadline, Duration::from_secs(86_400));
    assert_eq!(policy.after_promotion.bake_time, Duration::from_secs(90));

    let bare = error(&format!("{TARGET}plan:\n  interval: 60\n"));
    assert_error(&bare, TARGET_LINES + 2, 13, "no unit");
    assert!(bare.fix.contains("5m"), "{bare}");
    let nonsense = error(&format!("{TARGET}plan:\n  interval: 5 minutes\n"));
    assert_error(&nonsense, TARGET_LINES + 2, 13, "not a duration");
}

#[test]
fn unknown_fields_are_located() {
    let typo = error(&format!(
        "{TARGET}plan:\n  steps:\n    - {{ trafic: 10 }}\n"
    ));
    assert_error(&typo, TARGET_LINES + 3, 9, "unknown field `trafic`");
    assert!(typo.fix.contains("traffic"), "{typo}");

    let top = error(&format!("{TARGET}rollback: true\n"));
    assert_error(&top, TARGET_LINES + 1, 1, "unknown field `rollback`");

    let judge = error(&format!(
        "{TARGET}judge:\n  checks:\n    latency: {{ max_increse: 0.1 }}\n"
    ));
    assert_eq!(judge.line(), Some(TARGET_LINES + 3), "{judge}");
    assert!(judge.message.contains("max_increse"), "{judge}");

    let missing = error("target:\n  subscription: x\n");
    assert!(missing.message.contains("missing field"), "{missing}");
    assert!(missing.fix.contains("add `"), "{missing}");
}

#[test]
fn steps_must_increase_stay_in_range_and_end_at_100() {
    let text = format!("{TARGET}plan:\n  steps: [5, 25, 10, 100]\n");
    assert_error(&error(&text), TARGET_LINES + 2, 18, "must increase");

    let text = format!("{TARGET}plan:\n  steps:\n    - 5\n    - {{ traffic: 101 }}\n");
    let over = error(&text);
    assert_error(&over, TARGET_LINES + 4, 9, "101%");
    assert_eq!(over.field, "plan.steps[1].traffic");

    let text = format!("{TARGET}plan:\n  steps: [0, 100]\n");
    assert_error(&error(&text), TARGET_LINES + 2, 11, "0%");

    let text = format!("{TARGET}plan:\n  steps: [-5, 100]\n");
    let negative = error(&text);
    assert_eq!(negative.line(), Some(TARGET_LINES + 2), "{negative}");

    let text = format!("{TARGET}plan:\n  steps: [5, 10, 50]\n");
    let last = error(&text);
    assert_error(&last, TARGET_LINES + 2, 18, "last step is 50%");
    assert!(last.fix.contains("100"), "{last}");

    let text = format!("{TARGET}plan:\n  steps: []\n");
    assert_error(&error(&text), TARGET_LINES + 2, 3, "no traffic steps");

    let text = format!("{TARGET}plan:\n  steps: [5, 12.5, 100]\n");
    assert!(error(&text).message.contains("whole percentage"));
}

#[test]
fn shadow_mirror_is_limited_to_50_percent() {
    let text = format!("{TARGET}plan:\n  shadow:\n    mirror: 60\n    duration: 10m\n");
    let error_60 = error(&text);
    assert_error(&error_60, TARGET_LINES + 3, 5, "60%");
    assert!(error_60.fix.contains("50"), "{error_60}");
    let text = format!("{TARGET}plan:\n  shadow: {{ mirror: 0, duration: 10m }}\n");
    assert_error(&error(&text), TARGET_LINES + 2, 13, "0%");
    let text = format!("{TARGET}plan:\n  shadow: {{ mirror: 10, duration: 30s }}\n");
    assert_error(
        &error(&text),
        TARGET_LINES + 2,
        25,
        "shorter than one analysis interval",
    );
}

#[test]
fn intervals_durations_and_deadline_must_fit() {
    let text = format!("{TARGET}plan:\n  interval: 0s\n");
    assert_error(&error(&text), TARGET_LINES + 2, 3, "interval is zero");

    let text = format!(
        "{TARGET}plan:\n  interval: 2m\n  steps:\n    - 10\n    - {{ traffic: 100, min_duration: 1m }}\n"
    );
    let short = error(&text);
    assert_error(
        &short,
        TARGET_LINES + 5,
        23,
        "shorter than one analysis interval",
    );
    assert_eq!(short.field, "plan.steps[1].min_duration");

    // Defaults: 5 steps × 5m = 25m minimum.
    let text = format!("{TARGET}plan:\n  deadline: 20m\n");
    let deadline = error(&text);
    assert_error(&deadline, TARGET_LINES + 2, 3, "minimum (25m");
    assert!(deadline.fix.contains("25m"), "{deadline}");

    // A missing key is reported at its section.
    let text = format!("{TARGET}plan:\n  min_duration: 1h\n");
    assert_error(&error(&text), TARGET_LINES + 1, 1, "plan.deadline");
}

#[test]
fn azure_monitor_requires_the_kayenta_judge() {
    let text = "\
target:
  subscription: 00000000-0000-4000-8000-0000000000aa
  resource_group: rg
  workspace: ws
  endpoint: ep
source:
  azure_monitor: {}
judge:
  method: sequential
";
    let sequential = error(text);
    assert_error(&sequential, 9, 3, "only the Kayenta judge");
    assert!(sequential.fix.contains("kayenta"), "{sequential}");

    // No judge section at all: the default (sequential) is refused too, at the source.
    let text = text.replace("judge:\n  method: sequential\n", "");
    assert_error(&error(&text), 6, 1, "only the Kayenta judge");

    let kayenta = "\
target:
  subscription: 00000000-0000-4000-8000-0000000000aa
  resource_group: rg
  workspace: ws
  endpoint: ep
source:
  azure_monitor: {}
plan:
  interval: 90s
  min_duration: 5m
judge:
  method: kayenta
  kayenta:
    metrics:
      - name: latency_p99
        analysisConfigurations: { canary: { direction: increase } }
    classifier:
      scoreThresholds: { pass: 75, marginal: 50 }
";
    assert_error(&error(kayenta), 9, 3, "whole number of minutes");
    let unknown_series = kayenta
        .replace("interval: 90s", "interval: 1m")
        .replace("latency_p99", "latency_p99.9");
    let series = error(&unknown_series);
    assert_eq!(series.line(), Some(15), "{series}");
    assert!(series.message.contains("latency_p99.9"), "{series}");
    parse(&kayenta.replace("interval: 90s", "interval: 1m")).expect("valid kayenta policy");
}

#[test]
fn target_names_and_guids_are_checked() {
    let bad_sub = TARGET.replace("00000000-0000-4000-8000-0000000000aa", "my-subscription");
    assert_error(&error(&bad_sub), 2, 3, "not a subscription id");

    let bad_ws = TARGET.replace("5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11", "law-prod");
    let ws = error(&bad_ws);
    assert_error(&ws, 8, 5, "not a Log Analytics workspace id");
    assert!(ws.fix.contains("customerId"), "{ws}");

    let slash = TARGET.replace("endpoint: ep", "endpoint: ep/deployments/x");
    assert_error(&error(&slash), 5, 3, "contains '/'");
}

#[test]
fn baseline_and_canary_must_differ() {
    let text = format!("{TARGET}baseline: blue\ncanary: {{ deployment: BLUE }}\n");
    let same = error(&text);
    assert_error(&same, TARGET_LINES + 2, 1, "both 'BLUE'");
    let auto_named = format!("{TARGET}baseline: {{ deployment: auto }}\ncanary: green\n");
    let policy = parse(&auto_named).expect("a deployment named auto");
    assert_eq!(policy.baseline, DeploymentSelector::Named("auto".into()));
    assert_eq!(policy.canary, DeploymentSelector::Named("green".into()));
}

#[test]
fn judge_errors_are_located_in_the_judge_section() {
    let text = format!(
        "{TARGET}judge:\n  alpha: 0.05\n  checks:\n    errors:\n      - {{ kind: model, max_ratio: 2 }}\n      - {{ kind: throttled, max_ratio: 2, max_increase_pp: 1 }}\n"
    );
    let both = error(&text);
    assert_error(&both, TARGET_LINES + 6, 9, "exactly one");
    assert_eq!(both.field, "judge.checks.errors[1]");

    let text = format!("{TARGET}judge:\n  alpha: 0.7\n");
    assert_error(&error(&text), TARGET_LINES + 2, 3, "alpha");
}

#[test]
fn failure_handling_rules() {
    let text = format!("{TARGET}failure:\n  source_error_grace: 30s\n");
    assert_error(&error(&text), TARGET_LINES + 2, 3, "single failed query");
    let text =
        format!("{TARGET}failure:\n  on_inconclusive: hold\n  on_inconclusive_timeout: hold\n");
    assert_error(&error(&text), TARGET_LINES + 3, 3, "does nothing");
    let text = format!(
        "{TARGET}failure:\n  on_inconclusive: hold\n  inconclusive_limit: never\n  on_inconclusive_timeout: hold\n"
    );
    let policy = parse(&text).expect("hold until the deadline");
    assert_eq!(policy.failure.inconclusive_limit, None);
    let text = format!("{TARGET}failure:\n  on_inconclusive: maybe\n");
    let variant = error(&text);
    assert_eq!(variant.line(), Some(TARGET_LINES + 2), "{variant}");
    assert!(variant.fix.contains("roll_back"), "{variant}");
}

#[test]
fn custom_queries_are_checked() {
    let with_query = TARGET.replace(
        "    workspace_id: 5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11\n",
        "    workspace_id: 5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11\n    query: \"AmlOnlineEndpointTrafficLog | where X == {nope}\"\n",
    );
    let query = error(&with_query);
    assert_error(&query, 9, 5, "{nope}");
}

#[test]
fn a_bad_file_does_not_stop_the_others_and_duplicates_are_refused() {
    let dir = TempDir::new("load-dir");
    dir.write("a-good.yaml", TARGET);
    dir.write(
        "b-bad.yaml",
        &format!("{TARGET}plan:\n  steps: [5, 10, 200]\n"),
    );
    dir.write(
        "c-other.yml",
        &TARGET.replace("endpoint: ep", "endpoint: other-ep"),
    );
    dir.write(
        "d-duplicate.yaml",
        &TARGET.replace("endpoint: ep", "endpoint: EP"),
    );
    dir.write("notes.txt", "not a policy");
    let results = load_dir(&dir.0);
    let summary: Vec<(String, bool)> = results
        .iter()
        .map(|(path, result)| {
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                result.is_ok(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("a-good.yaml".to_string(), true),
            ("b-bad.yaml".to_string(), false),
            ("c-other.yml".to_string(), true),
            ("d-duplicate.yaml".to_string(), false),
        ]
    );
    let bad = results[1].1.as_ref().expect_err("bad");
    assert_eq!(bad.position, Some((TARGET_LINES + 2, 18)), "{bad}");
    assert!(bad.to_string().contains("b-bad.yaml:10:18: "), "{bad}");
    let duplicate = results[3].1.as_ref().expect_err("duplicate");
    assert_eq!(duplicate.position, Some((1, 1)), "{duplicate}");
    assert!(duplicate.message.contains("a-good.yaml"), "{duplicate}");

    let missing = load_dir(dir.0.join("nope"));
    assert_eq!(missing.len(), 1);
    assert!(missing[0].1.is_err());
}

#[test]
fn check_reports_errors_and_json() {
    let dir = TempDir::new("check");
    let good = dir.write("good.yaml", TARGET);
    let bad = dir.write(
        "bad.yaml",
        &format!(
            "{}plan:\n  shadow: {{ mirror: 75, duration: 10m }}\n",
            TARGET.replace("endpoint: ep", "endpoint: ep2")
        ),
    );
    let mut out = Vec::new();
    let ok =
        canaryd::cli::check::run_to(&[good.clone(), bad.clone()], false, &mut out).expect("runs");
    assert!(!ok);
    let text = String::from_utf8(out).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(&format!(
            "OK {}: rg/ws/ep, steps 5→10→25→50→100",
            good.display()
        )),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!("{}:10:13: ", bad.display())),
        "{text}"
    );
    assert!(lines[1].contains("fix:"), "{text}");

    let mut out = Vec::new();
    let ok =
        canaryd::cli::check::run_to(std::slice::from_ref(&dir.0), true, &mut out).expect("runs");
    assert!(!ok);
    let text = String::from_utf8(out).expect("utf-8");
    let objects: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 2);
    let bad_json = objects
        .iter()
        .find(|o| o["ok"] == false)
        .expect("bad entry");
    assert_eq!(bad_json["error"]["line"], 10);
    assert_eq!(bad_json["error"]["field"], "plan.shadow.mirror");
    let good_json = objects
        .iter()
        .find(|o| o["ok"] == true)
        .expect("good entry");
    assert_eq!(good_json["policy"]["plan"]["steps"][0]["traffic"], 5);
    assert_eq!(good_json["policy"]["plan"]["interval"], "1m");

    assert!(canaryd::cli::check::run_to(&[], false, &mut Vec::new()).is_err());
}

// ---------------------------------------------------------------------------------------------
// policies/policy.schema.json: every example validates against it, and its property names are
// exactly the fields serde accepts (so the two cannot drift).

fn schema() -> serde_json::Value {
    let text = std::fs::read_to_string(examples_dir().join("policy.schema.json")).expect("schema");
    serde_json::from_str(&text).expect("schema is JSON")
}

/// A structural JSON Schema checker for the keywords the policy schema uses (`$ref` to
/// `#/$defs/…`, type, properties, required, additionalProperties, items, enum, oneOf, anyOf,
/// numeric bounds, minItems, minLength, min/maxProperties). `pattern` is not checked (no regex
/// engine here); `canaryd check` enforces those values anyway. Returns the problems found.
fn schema_problems(
    root: &serde_json::Value,
    schema: &serde_json::Value,
    value: &serde_json::Value,
    at: &str,
) -> Vec<String> {
    use serde_json::Value;
    let mut problems = Vec::new();
    let Some(schema) = schema.as_object() else {
        return problems;
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.strip_prefix("#/$defs/").expect("local $ref");
        let target = &root["$defs"][name];
        assert!(!target.is_null(), "dangling $ref {reference}");
        problems.extend(schema_problems(root, target, value, at));
    }
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let ok = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            other => panic!("unsupported type {other}"),
        };
        if !ok {
            problems.push(format!("{at}: expected {kind}, got {value}"));
            return problems;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        problems.push(format!("{at}: {value} not in {options:?}"));
    }
    if let Some(number) = value.as_f64() {
        let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
        if bound("minimum").is_some_and(|m| number < m)
            || bound("maximum").is_some_and(|m| number > m)
            || bound("exclusiveMinimum").is_some_and(|m| number <= m)
            || bound("exclusiveMaximum").is_some_and(|m| number >= m)
        {
            problems.push(format!("{at}: {number} out of bounds"));
        }
    }
    if let (Some(text), Some(min)) = (
        value.as_str(),
        schema.get("minLength").and_then(Value::as_u64),
    ) && (text.chars().count() as u64) < min
    {
        problems.push(format!("{at}: shorter than {min}"));
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = required.as_str().expect("required names");
            if !object.contains_key(key) {
                problems.push(format!("{at}: missing {key}"));
            }
        }
        if schema
            .get("minProperties")
            .and_then(Value::as_u64)
            .is_some_and(|m| (object.len() as u64) < m)
            || schema
                .get("maxProperties")
                .and_then(Value::as_u64)
                .is_some_and(|m| (object.len() as u64) > m)
        {
            problems.push(format!("{at}: wrong number of properties"));
        }
        for (key, item) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(sub) => {
                    problems.extend(schema_problems(root, sub, item, &format!("{at}.{key}")))
                }
                None => {
                    if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                        problems.push(format!("{at}: unknown property {key}"));
                    }
                }
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        if schema
            .get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| (array.len() as u64) < m)
        {
            problems.push(format!("{at}: too few items"));
        }
        for (i, item) in array.iter().enumerate() {
            problems.extend(schema_problems(root, items, item, &format!("{at}[{i}]")));
        }
    }
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array)
        && !options
            .iter()
            .any(|o| schema_problems(root, o, value, at).is_empty())
    {
        problems.push(format!("{at}: matches no anyOf option"));
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|o| schema_problems(root, o, value, at).is_empty())
            .count();
        if matching != 1 {
            problems.push(format!("{at}: matches {matching} oneOf options"));
        }
    }
    problems
}

fn yaml_as_json(text: &str) -> serde_json::Value {
    serde_yaml_ng::from_str(text).expect("YAML as JSON")
}

#[test]
fn every_example_validates_against_the_json_schema() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    for (path, _) in load_dir(examples_dir()) {
        let text = std::fs::read_to_string(&path).expect("read");
        let problems = schema_problems(&schema, &schema, &yaml_as_json(&text), "");
        assert!(problems.is_empty(), "{}: {problems:?}", path.display());
    }
    // The checker is not vacuous: the schema refuses what serde refuses.
    for bad in [
        format!("{TARGET}plan:\n  steps: [{{ trafic: 5 }}]\n"),
        format!("{TARGET}plan:\n  shadow: {{ mirror: 60, duration: 5m }}\n"),
        format!("{TARGET}failure:\n  on_inconclusive: maybe\n"),
        TARGET.replace("source:\n", "sources:\n"),
        format!("{TARGET}  azure_monitor: {{}}\n"),
    ] {
        let problems = schema_problems(&schema, &schema, &yaml_as_json(&bad), "");
        assert!(!problems.is_empty(), "schema accepts:\n{bad}");
    }
}

/// The fields serde accepts at a place in the document, read from its "unknown field"
/// message (serde lists every expected field).
fn serde_fields(document_with_bogus_key: &str) -> Vec<String> {
    let error = error(document_with_bogus_key);
    let expected = error
        .message
        .split("expected one of ")
        .nth(1)
        .or_else(|| error.message.split("expected ").nth(1))
        .unwrap_or_else(|| panic!("no field list in: {error}"));
    let mut fields: Vec<String> = expected
        .split(", ")
        .flat_map(|f| f.split(" or "))
        .map(|f| f.trim().trim_matches('`').to_string())
        .collect();
    fields.sort();
    fields
}

fn schema_fields(schema: &serde_json::Value, pointer: &str) -> Vec<String> {
    let mut fields: Vec<String> = schema
        .pointer(pointer)
        .and_then(|p| p.as_object())
        .unwrap_or_else(|| panic!("no properties at {pointer}"))
        .keys()
        .cloned()
        .collect();
    fields.sort();
    fields
}

#[test]
fn schema_property_names_match_the_serde_fields() {
    let schema = schema();
    let la = "5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11";
    let cases: Vec<(String, &str)> = vec![
        (format!("{TARGET}zzz: 1\n"), "/properties"),
        (
            TARGET.replace("  endpoint: ep\n", "  endpoint: ep\n  zzz: 1\n"),
            "/$defs/target/properties",
        ),
        (
            TARGET.replace(
                &format!("workspace_id: {la}\n"),
                &format!("workspace_id: {la}\n    zzz: 1\n"),
            ),
            "/$defs/logAnalytics/properties",
        ),
        (
            TARGET.replace(
                &format!("  log_analytics:\n    workspace_id: {la}\n"),
                "  zzz: {}\n",
            ),
            "/$defs/source/properties",
        ),
        (
            TARGET.replace(
                &format!("  log_analytics:\n    workspace_id: {la}\n"),
                "  azure_monitor: { zzz: 1 }\n",
            ),
            "/$defs/azureMonitor/properties",
        ),
        (
            format!("{TARGET}plan:\n  zzz: 1\n"),
            "/$defs/plan/properties",
        ),
        (
            format!("{TARGET}plan:\n  shadow: {{ mirror: 5, duration: 5m, zzz: 1 }}\n"),
            "/$defs/shadow/properties",
        ),
        (
            format!("{TARGET}plan:\n  steps: [{{ traffic: 100, zzz: 1 }}]\n"),
            "/$defs/step/oneOf/1/properties",
        ),
        (
            format!("{TARGET}plan:\n  gates: {{ zzz: 1 }}\n"),
            "/$defs/gates/properties",
        ),
        (
            format!("{TARGET}plan:\n  promotion_windows: {{ zzz: 1 }}\n"),
            "/$defs/promotionWindows/properties",
        ),
        (
            format!("{TARGET}failure:\n  zzz: 1\n"),
            "/$defs/failure/properties",
        ),
        (
            format!("{TARGET}after_promotion:\n  zzz: 1\n"),
            "/$defs/afterPromotion/properties",
        ),
        (
            format!("{TARGET}judge:\n  zzz: 1\n"),
            "/$defs/judge/properties",
        ),
        (
            format!("{TARGET}judge:\n  checks:\n    zzz: 1\n"),
            "/$defs/checks/properties",
        ),
        (
            format!("{TARGET}judge:\n  checks:\n    latency: {{ zzz: 1 }}\n"),
            "/$defs/checks/properties/latency/anyOf/1/properties",
        ),
        (
            format!(
                "{TARGET}judge:\n  checks:\n    quantiles: [{{ q: 0.9, max_increase: 0.1, zzz: 1 }}]\n"
            ),
            "/$defs/checks/properties/quantiles/items/properties",
        ),
        (
            format!("{TARGET}judge:\n  checks:\n    errors: [{{ kind: model, zzz: 1 }}]\n"),
            "/$defs/checks/properties/errors/items/properties",
        ),
        (
            format!(
                "{TARGET}judge:\n  checks:\n    absolute: [{{ metric: p99_ms, max: 1, zzz: 1 }}]\n"
            ),
            "/$defs/checks/properties/absolute/items/properties",
        ),
    ];
    for (document, pointer) in cases {
        assert_eq!(
            schema_fields(&schema, pointer),
            serde_fields(&document),
            "schema {pointer} differs from the serde fields"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Gates and promotion windows

#[test]
fn gates_and_windows_parse_with_their_defaults() {
    let minimal = parse(TARGET).expect("no gates, no windows");
    assert_eq!(minimal.plan.gates, Gates::default());
    assert_eq!(minimal.plan.gates.confirm, GateConfirm::None);
    assert_eq!(
        minimal.plan.gates.timeout,
        Some(Duration::from_secs(4 * 3600))
    );
    assert_eq!(minimal.plan.gates.on_timeout, GateTimeoutAction::RollBack);
    assert_eq!(minimal.plan.promotion_windows, None);

    let text = format!(
        "{TARGET}plan:
  gates: {{ confirm: every_step, timeout: never, on_timeout: hold }}
  promotion_windows:
    timezone: \"+02:00\"
    allow: [\"* 9-16 * * 1-5\"]
    freeze: [\"* * 24-26 12 *\", \"0-29 12 * * *\"]
"
    );
    let policy = parse(&text).expect("valid gates and windows");
    let gates = &policy.plan.gates;
    assert_eq!(gates.confirm, GateConfirm::EveryStep);
    assert_eq!(gates.timeout, None);
    assert_eq!(gates.on_timeout, GateTimeoutAction::Hold);
    let windows = policy.plan.promotion_windows.as_ref().expect("windows");
    assert_eq!(windows.timezone.to_string(), "+02:00");
    assert_eq!(windows.freeze.len(), 2);
    // Monday 2027-01-18 09:00 +02:00 = 07:00 UTC; lunch frozen until 12:29 local.
    assert!(windows.allows(datetime!(2027-01-18 07:00 UTC)));
    assert!(!windows.allows(datetime!(2027-01-18 06:59 UTC)));
    assert!(!windows.allows(datetime!(2027-01-18 10:29 UTC)));
    assert!(windows.allows(datetime!(2027-01-18 10:30 UTC)));
    assert!(!windows.allows(datetime!(2027-01-17 10:30 UTC)), "Sunday");
    // Written back as written: the policy serializes for `canaryd check --json` and journals.
    let json = serde_json::to_value(&policy.plan).expect("serializes");
    assert_eq!(json["promotion_windows"]["allow"][0], "* 9-16 * * 1-5");
    assert_eq!(json["promotion_windows"]["timezone"], "+02:00");
    assert_eq!(json["gates"]["confirm"], "every_step");
    let back: policy::Plan = serde_json::from_value(json).expect("reads back");
    assert_eq!(back, policy.plan);
}

#[test]
fn bad_cron_expressions_are_located_with_the_fix() {
    let windows = |line: &str| format!("{TARGET}plan:\n  promotion_windows:\n{line}");
    // Out of range, at the expression itself (line, column of the scalar).
    let hour = error(&windows("    allow: [\"* 9-25 * * Mon-Fri\"]\n"));
    assert_error(&hour, TARGET_LINES + 3, 13, "is not a cron expression");
    assert!(
        hour.fix
            .contains("minute hour day-of-month month day-of-week"),
        "{hour}"
    );
    // Seconds (6 fields) are refused with the reason.
    let six = error(&windows("    freeze:\n      - \"0 * 9-16 * * Mon-Fri\"\n"));
    assert_error(&six, TARGET_LINES + 4, 9, "standard 5-field form");
    // A bad weekday.
    let day = error(&windows("    allow: [\"* 9-16 * * Mon-Fry\"]\n"));
    assert_error(&day, TARGET_LINES + 3, 13, "'Fry' is not a day of the week");
    let backwards = error(&windows("    allow: [\"* * * * Fri-Mon\"]\n"));
    assert_error(&backwards, TARGET_LINES + 3, 13, "goes backwards");
    // Not a string at all.
    let number = error(&windows("    allow: [5]\n"));
    assert_eq!(number.line(), Some(TARGET_LINES + 3), "{number}");
    // An empty allow list would never allow an increase.
    let empty = error(&windows("    allow: []\n"));
    assert_error(&empty, TARGET_LINES + 3, 5, "could never increase");
    assert!(empty.fix.contains("remove `allow`"), "{empty}");
    let unknown = error(&windows("    allowed: [\"* * * * *\"]\n"));
    assert_error(&unknown, TARGET_LINES + 3, 5, "unknown field `allowed`");
}

#[test]
fn bad_timezones_are_located_with_the_fix() {
    let text = |tz: &str| format!("{TARGET}plan:\n  promotion_windows:\n    timezone: {tz}\n");
    let named = error(&text("Europe/Paris"));
    assert_error(
        &named,
        TARGET_LINES + 3,
        5,
        "'Europe/Paris' is not a timezone",
    );
    assert!(named.fix.contains("+02:00"), "{named}");
    let far = error(&text("\"+15:00\""));
    assert_error(&far, TARGET_LINES + 3, 5, "not a timezone");
    assert!(parse(&text("\"-05:30\"")).is_ok());
    assert!(parse(&text("UTC")).is_ok());
}

#[test]
fn bad_gate_values_are_located_with_the_fix() {
    let gates = |body: &str| format!("{TARGET}plan:\n  gates:\n{body}");
    let confirm = error(&gates("    confirm: sometimes\n"));
    assert_error(
        &confirm,
        TARGET_LINES + 3,
        14,
        "unknown variant `sometimes`",
    );
    assert!(confirm.fix.contains("every_step"), "{confirm}");
    let action = error(&gates("    on_timeout: promote\n"));
    assert_error(&action, TARGET_LINES + 3, 17, "unknown variant `promote`");
    assert!(action.fix.contains("roll_back"), "{action}");
    let short = error(&gates("    confirm: final\n    timeout: 30s\n"));
    assert_error(
        &short,
        TARGET_LINES + 4,
        5,
        "time out before anyone could approve",
    );
    let unit = error(&gates("    timeout: 4\n"));
    assert_eq!(unit.line(), Some(TARGET_LINES + 3), "{unit}");
    assert!(unit.fix.contains("unit"), "{unit}");
    let typo = error(&gates("    confirm_on: final\n"));
    assert_error(&typo, TARGET_LINES + 3, 5, "unknown field `confirm_on`");
    assert!(parse(&gates("    confirm: final\n    on_timeout: rollback\n")).is_ok());
}
