//! `canaryd judge` end to end: the built binary on small generated sample files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canaryd-judge-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write test file");
}

/// CSV of `n` log-normal latencies around `median_ms`, a share `error_rate` of them model errors.
fn csv_samples(seed: u64, n: usize, median_ms: f64, error_rate: f64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let latency = LogNormal::new(median_ms.ln(), 0.5).expect("valid");
    let mut text = String::from("latency_ms,status_code,model_status_code\n");
    for _ in 0..n {
        let failed = rng.random::<f64>() < error_rate;
        let code = if failed { 500 } else { 200 };
        text.push_str(&format!("{:.3},{code},{code}\n", latency.sample(&mut rng)));
    }
    text
}

fn json_lines_samples(seed: u64, n: usize, median_ms: f64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let latency = LogNormal::new(median_ms.ln(), 0.5).expect("valid");
    (0..n)
        .map(|_| {
            format!(
                "{{\"latency_ms\": {:.3}, \"status_code\": 200}}\n",
                latency.sample(&mut rng)
            )
        })
        .collect()
}

fn example_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/judge-example.yaml")
}

fn judge(policy: &Path, baseline: &Path, canary: &Path, json: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_canaryd"));
    command
        .arg("judge")
        .arg("--policy")
        .arg(policy)
        .arg("--baseline")
        .arg(baseline)
        .arg("--canary")
        .arg(canary);
    if json {
        command.arg("--json");
    }
    command.output().expect("run canaryd")
}

#[test]
fn slow_canary_is_regressed_in_the_table_with_exit_code_1() {
    let dir = scratch("slow");
    let (baseline, canary) = (dir.join("baseline.csv"), dir.join("canary.csv"));
    write(&baseline, &csv_samples(1, 4_000, 100.0, 0.002));
    write(&canary, &csv_samples(2, 800, 140.0, 0.002));
    let output = judge(&example_policy(), &baseline, &canary, false);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for needle in [
        "latency_shift",
        "REGRESSED",
        "p_value",
        "hodges_lehmann",
        "overall: REGRESSED",
    ] {
        assert!(stdout.contains(needle), "missing {needle} in:\n{stdout}");
    }
}

#[test]
fn identical_arms_give_json_with_mann_whitney_fields_and_exit_code_0() {
    let dir = scratch("same");
    let (baseline, canary) = (dir.join("baseline.jsonl"), dir.join("canary.data"));
    write(&baseline, &json_lines_samples(3, 3_000, 100.0));
    write(&canary, &json_lines_samples(4, 600, 100.0));
    let output = judge(&example_policy(), &baseline, &canary, true);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    assert_ne!(report["overall"], "regressed");
    let checks = report["checks"].as_array().expect("checks array");
    let latency = checks
        .iter()
        .find(|c| c["name"] == "latency_shift")
        .expect("latency_shift check");
    for field in ["u", "z", "p_value"] {
        assert!(latency[field].is_number(), "{field} missing: {latency}");
    }
    for field in ["estimate", "lower", "upper"] {
        assert!(
            latency["hodges_lehmann"][field].is_number(),
            "hodges_lehmann.{field} missing: {latency}"
        );
    }
    let p = latency["p_value"].as_f64().expect("number");
    assert!(
        p > 0.001,
        "identical arms should not look significant: p = {p}"
    );
    assert!(
        checks
            .iter()
            .all(|c| c["outcome"].is_string() && c["reason"].is_string())
    );
}

#[test]
fn bad_sample_file_names_file_line_and_field_with_exit_code_2() {
    let dir = scratch("bad-samples");
    let (baseline, canary) = (dir.join("baseline.csv"), dir.join("canary.csv"));
    write(&baseline, &csv_samples(5, 50, 100.0, 0.0));
    write(
        &canary,
        "latency_ms,status_code\n12.0,200\n13.5,200\nslow,200\n",
    );
    let output = judge(&example_policy(), &baseline, &canary, false);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("canary.csv:4") && stderr.contains("latency_ms"),
        "stderr: {stderr}"
    );
}

#[test]
fn unknown_policy_field_is_located_with_exit_code_2() {
    let dir = scratch("bad-policy");
    let (baseline, canary, policy) = (
        dir.join("b.csv"),
        dir.join("c.csv"),
        dir.join("policy.yaml"),
    );
    write(&baseline, &csv_samples(6, 50, 100.0, 0.0));
    write(&canary, &csv_samples(7, 50, 100.0, 0.0));
    write(
        &policy,
        "plan: {steps: [5, 10]}\njudge:\n  alpha: 0.05\n  checks:\n    latency:\n      max_increase: 0.1\n      tolerance: 3\n",
    );
    let output = judge(&policy, &baseline, &canary, false);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("policy.yaml:7:"), "stderr: {stderr}");
    assert!(stderr.contains("tolerance"), "stderr: {stderr}");
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let dir = scratch("missing");
    let canary = dir.join("c.csv");
    write(&canary, &csv_samples(8, 50, 100.0, 0.0));
    let output = judge(&example_policy(), &dir.join("nope.csv"), &canary, false);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("nope.csv"), "stderr: {stderr}");
}
