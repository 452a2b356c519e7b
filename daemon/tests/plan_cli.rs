//! `canaryd plan`: the built binary on the shipped policies (figures, JSON, warnings, bad input),
//! and Monte Carlo checks that the planned number of requests catches the planned regression
//! with at least the stated power when the real judge (`judge::evaluate`) looks at simulated
//! windows at one step's share.
//!
//! Monte Carlo runs: 200 per check in the suite (`CANARYD_TEST_PLAN_MC_RUNS` overrides, e.g.
//! `CANARYD_TEST_PLAN_MC_RUNS=1000 cargo test -p canaryd --release --test plan_cli planned -- --nocapture`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use canaryd::judge::binomial::clopper_pearson;
use canaryd::judge::histogram::LogBuckets;
use canaryd::judge::observation::{ArmObservation, Observation};
use canaryd::judge::{JudgeState, Outcome, evaluate};
use canaryd::plan::{PlanInputs, PlanReport, plan};
use canaryd::source::default_buckets;
use rand::RngCore;
use rand_distr::{Binomial, Distribution, LogNormal};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn canaryd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canaryd"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run canaryd")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn plan_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["plan", "--json"];
    all.extend_from_slice(args);
    let output = canaryd(&all);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("plan --json is one JSON document")
}

#[test]
fn text_plan_of_the_default_policy_gives_per_step_figures() {
    // The default policy advances on inconclusive steps; with `hold` a good canary at 20 rps
    // is rolled back at step 1, and the plan says so.
    let output = canaryd(&[
        "plan",
        "--policy",
        "daemon/tests/fixtures/plan/default-hold.yaml",
        "--rps",
        "20",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    // 20 rps × 60 s × 5% = 60 canary requests per one-minute interval.
    assert!(
        text.contains(
            "step 1 (5% of live traffic): 60.0 canary requests per interval, 60.0 per minute; 1140.0 baseline"
        ),
        "{text}"
    );
    assert!(
        text.contains("step 4 (50% of live traffic): 600.0 canary"),
        "{text}"
    );
    assert!(text.contains("latency_shift"), "{text}");
    assert!(text.contains("latency_p99"), "{text}");
    assert!(text.contains("errors_model"), "{text}");
    assert!(
        text.contains("Expected rollout for a good canary:"),
        "{text}"
    );
    assert!(text.contains("deadline 4h"), "{text}");
    assert!(
        text.contains(
            "But a good canary is expected to be rolled back in step 1, 35m after the start"
        ),
        "{text}"
    );
}

#[test]
fn json_plan_figures_are_consistent() {
    let plan = plan_json(&["--policy", "policies/default.yaml", "--rps", "20"]);
    let phases = plan["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 5);
    assert_eq!(phases[0]["phase"], "step 1");
    assert_eq!(phases[0]["canary_requests_per_interval"], 60.0);
    assert_eq!(
        phases[0]["min_requests_s"], 240.0,
        "200 requests at 60 a minute: 4 looks"
    );
    let latency_detect = |phase: &serde_json::Value| {
        let check = &phase["checks"][0];
        assert_eq!(check["name"], "latency_shift");
        let detect = &check["detect"];
        let intervals = detect["intervals"].as_u64().expect("intervals");
        let requests = detect["canary_requests"].as_u64().expect("requests");
        let per_interval = phase["canary_requests_per_interval"]
            .as_f64()
            .expect("rate");
        assert_eq!(requests, (intervals as f64 * per_interval).round() as u64);
        assert_eq!(detect["seconds"].as_f64(), Some(intervals as f64 * 60.0));
        (intervals, requests)
    };
    let (k1, n1) = latency_detect(&phases[0]);
    let (k4, n4) = latency_detect(&phases[3]);
    // A larger share detects sooner, but needs more canary requests (fewer baseline requests
    // to compare with: information n_C·n_B/N).
    assert!(k4 < k1, "50% ({k4} looks) should be faster than 5% ({k1})");
    assert!(
        n4 > n1,
        "50% needs more canary requests ({n4}) than 5% ({n1})"
    );
    // The latency check at 5%, 20 rps: a few hundred canary requests, minutes not hours.
    assert!((200..2_000).contains(&n1), "{n1}");
    // At 100% there is no baseline: nothing new to detect, safety carried over.
    assert!(phases[4]["checks"][0]["detect"].is_null());
    let total = plan["expected_total_s"].as_f64().expect("total");
    let to_full = plan["expected_to_full_s"].as_f64().expect("to full");
    assert_eq!(total, to_full + 1800.0, "plus the 30m bake");
    let sum: f64 = phases
        .iter()
        .map(|p| p["expected_s"].as_f64().expect("s"))
        .sum();
    assert!((sum - to_full).abs() < 1e-6);
    for phase in phases {
        let expected = phase["expected_s"].as_f64().expect("expected");
        let min_requests = phase["min_requests_s"].as_f64().expect("min requests");
        assert!(
            expected >= min_requests,
            "a step never ends before its minimum requests"
        );
    }
}

#[test]
fn more_traffic_and_less_power_need_less_time() {
    let at = |rps: &str, power: &str| {
        let plan = plan_json(&[
            "--policy",
            "policies/default.yaml",
            "--rps",
            rps,
            "--power",
            power,
        ]);
        plan["phases"][0]["checks"][0]["detect"]["seconds"]
            .as_f64()
            .expect("latency detection time")
    };
    let slow = at("5", "0.8");
    let fast = at("50", "0.8");
    assert!(fast < slow, "50 rps {fast}s vs 5 rps {slow}s");
    let sure = at("20", "0.95");
    let loose = at("20", "0.6");
    assert!(loose < sure, "power 0.6 {loose}s vs 0.95 {sure}s");
}

#[test]
fn low_traffic_warns_with_the_fix() {
    let plan = plan_json(&["--policy", "policies/default.yaml", "--rps", "0.2"]);
    let warnings: Vec<&str> = plan["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| w.as_str().expect("text"))
        .collect();
    assert!(!warnings.is_empty());
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("step 1: latency_shift needs") && w.contains("fix:")),
        "{warnings:#?}"
    );
    // 0.2 rps × 5% = 0.6 canary requests a minute: 200 of them take 5h34m, past the 4h deadline.
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("step 1: min_canary_requests 200 cannot be reached")),
        "{warnings:#?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("deadline is 4h")),
        "{warnings:#?}"
    );
    // Plenty of traffic and a short step: the latency check fits.
    let busy = plan_json(&["--policy", "policies/default.yaml", "--rps", "500"]);
    assert!(busy["good_canary_rolled_back"].is_null());
    let warnings = busy["warnings"].as_array().expect("warnings");
    assert!(
        !warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("latency_shift"))),
        "{warnings:#?}"
    );
}

#[test]
fn shadow_phase_is_planned_with_mirrored_requests() {
    let plan = plan_json(&["--policy", "policies/shadow-first.yaml", "--rps", "10"]);
    let shadow = &plan["phases"][0];
    assert_eq!(shadow["phase"], "shadow");
    assert_eq!(shadow["mirrored"], true);
    // Interval 2m: 10 rps × 120 s × 10% mirrored = 120 canary, all 1,200 live on the baseline.
    assert_eq!(shadow["canary_requests_per_interval"], 120.0);
    assert_eq!(shadow["baseline_requests_per_interval"], 1200.0);
    assert_eq!(shadow["canary_requests_per_minute"], 60.0);
    // alpha 0.01 over six checks.
    let alpha = shadow["checks"][0]["alpha"].as_f64().expect("alpha");
    assert!((alpha - 0.01 / 6.0).abs() < 1e-12, "{alpha}");
}

#[test]
fn bad_input_exits_2_with_the_problem_and_the_fix() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["plan", "--policy", "policies/nope.yaml", "--rps", "20"],
            "nope.yaml",
        ),
        (
            &["plan", "--policy", "policies/default.yaml", "--rps", "0"],
            "--rps 0: must be a positive number; fix:",
        ),
        (
            &["plan", "--policy", "policies/default.yaml", "--rps", "fast"],
            "invalid value 'fast'",
        ),
        (
            &[
                "plan",
                "--policy",
                "policies/default.yaml",
                "--rps",
                "20",
                "--error-rate",
                "1.5",
            ],
            "--error-rate 1.5: must be a fraction",
        ),
        (
            &[
                "plan",
                "--policy",
                "policies/default.yaml",
                "--rps",
                "20",
                "--power",
                "0.3",
            ],
            "--power 0.3",
        ),
        (
            &[
                "plan",
                "--policy",
                "policies/default.yaml",
                "--rps",
                "20",
                "--baseline-p99=-5",
            ],
            "--baseline-p99 -5",
        ),
    ];
    for (args, expected) in cases {
        let output = canaryd(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty(), "{args:?}: no plan on bad input");
    }
    // A policy file that is not valid names the file and the line.
    let dir = std::env::temp_dir().join(format!("canaryd-plan-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "target: {endpoint: x}\nplan: {steps: [5, 200]}\n").expect("write");
    let output = canaryd(&[
        "plan",
        "--policy",
        bad.to_str().expect("utf-8"),
        "--rps",
        "20",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("bad.yaml"), "{}", stderr(&output));
}

// ---------------------------------------------------------------------------------------------
// Monte Carlo: the plan's detection figure against the real judge.

/// SplitMix64 (Steele, Lea & Flood 2014): cheap and adequate for Monte Carlo in debug builds.
struct SplitMix64(u64);

impl RngCore for SplitMix64 {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, destination: &mut [u8]) {
        for chunk in destination.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

fn runs() -> u64 {
    std::env::var("CANARYD_TEST_PLAN_MC_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn policy_with_judge(judge: &str, steps: &str) -> canaryd::policy::Policy {
    let text = format!(
        "target: {{subscription: 00000000-0000-4000-8000-0000000000aa, resource_group: rg, workspace: ws, endpoint: ep}}\n\
         source: {{log_analytics: {{workspace_id: 5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11}}}}\n\
         plan: {{steps: {steps}, interval: 1m, min_duration: 5m, deadline: 24h}}\n\
         judge: {judge}\n"
    );
    canaryd::policy::parse_str(&text, Path::new("mc.yaml")).expect("test policy is valid")
}

/// How the simulated canary differs from the baseline.
struct Truth {
    latency_factor: f64,
    baseline_error_rate: f64,
    canary_error_rate: f64,
}

fn simulated_arm(
    rng: &mut SplitMix64,
    buckets: &LogBuckets,
    requests: u64,
    latency: Option<&LogNormal<f64>>,
    error_rate: f64,
) -> ArmObservation {
    let mut counts = vec![0.0; buckets.len()];
    match latency {
        Some(latency) => {
            for _ in 0..requests {
                counts[buckets.index_of(latency.sample(rng))] += 1.0;
            }
        }
        // Checks that do not look at latency: all requests in one bucket.
        None => counts[300] = requests as f64,
    }
    ArmObservation {
        latency: counts,
        requests,
        errors_5xx: 0,
        model_errors: Binomial::new(requests, error_rate)
            .expect("valid")
            .sample(rng),
        throttled: 0,
    }
}

/// Runs the real judge on `runs` simulated rollouts of `looks` windows at the plan's first
/// step and returns the detections.
fn detections(
    report: &PlanReport,
    looks: u64,
    truth: &Truth,
    simulate_latency: bool,
    policy: &canaryd::policy::Policy,
    seed: u64,
) -> u64 {
    reaching(
        Outcome::Regressed,
        report,
        looks,
        truth,
        simulate_latency,
        policy,
        seed,
    )
}

/// The runs in which some look within `looks` has the overall outcome `target`.
fn reaching(
    target: Outcome,
    report: &PlanReport,
    looks: u64,
    truth: &Truth,
    simulate_latency: bool,
    policy: &canaryd::policy::Policy,
    seed: u64,
) -> u64 {
    let buckets = default_buckets();
    let phase = &report.phases[0];
    let canary_n = phase.canary_requests_per_interval.round() as u64;
    let baseline_n = phase.baseline_requests_per_interval.round() as u64;
    let sigma = report.latency_log_sigma;
    let baseline_latency =
        LogNormal::new(report.latency_median_ms.ln(), sigma).expect("valid log-normal");
    let canary_latency = LogNormal::new(
        (report.latency_median_ms * truth.latency_factor).ln(),
        sigma,
    )
    .expect("valid log-normal");
    let mut rng = SplitMix64(seed);
    let mut detected = 0;
    for _ in 0..runs() {
        let mut state = JudgeState::new();
        for look in 0..looks {
            let observation = Observation {
                window_start_unix_s: look as i64 * 60,
                window_end_unix_s: (look as i64 + 1) * 60,
                buckets: buckets.clone(),
                baseline: simulated_arm(
                    &mut rng,
                    &buckets,
                    baseline_n,
                    simulate_latency.then_some(&baseline_latency),
                    truth.baseline_error_rate,
                ),
                canary: simulated_arm(
                    &mut rng,
                    &buckets,
                    canary_n,
                    simulate_latency.then_some(&canary_latency),
                    truth.canary_error_rate,
                ),
            };
            if evaluate(&policy.judge, &mut state, &observation).overall == target {
                detected += 1;
                break;
            }
        }
    }
    detected
}

/// The stated power must not be above the empirical detection rate's 95% interval (the plan
/// may be conservative, never optimistic).
fn assert_power(what: &str, detected: u64, stated: f64) {
    let runs = runs();
    let (lower, upper) = clopper_pearson(detected, runs, 0.95);
    let rate = detected as f64 / runs as f64;
    println!(
        "{what}: reached in {detected}/{runs} = {:.1}% [95% CI {:.1}%, {:.1}%] of the runs at the planned requests; stated power {:.0}%{}",
        rate * 100.0,
        lower * 100.0,
        upper * 100.0,
        stated * 100.0,
        if lower > stated {
            " (plan conservative)"
        } else {
            ""
        }
    );
    assert!(
        upper >= stated,
        "{what}: the plan is optimistic: {detected}/{runs} detected, CI upper {upper:.3} < stated {stated}"
    );
}

#[test]
fn planned_latency_detection_has_the_stated_power() {
    let policy = policy_with_judge("{checks: {latency: {max_increase: 0.10}}}", "[5, 100]");
    let inputs = PlanInputs {
        rps: 20.0,
        baseline_p99_ms: 300.0,
        error_rate: 0.005,
        power: 0.8,
    };
    let report = plan(&policy, &inputs).expect("plans");
    let need = report.phases[0].checks[0]
        .detect
        .as_ref()
        .expect("latency detection is planned at 5%");
    // The planned regression: (1 + 10% margin) × (1 + 10% detect_increase).
    let truth = Truth {
        latency_factor: 1.1 * 1.1,
        baseline_error_rate: 0.005,
        canary_error_rate: 0.005,
    };
    let detected = detections(&report, need.intervals, &truth, true, &policy, 5_150);
    assert_power(
        &format!(
            "latency_shift at 5% of 20 rps, {} looks, {} canary requests",
            need.intervals, need.canary_requests
        ),
        detected,
        inputs.power,
    );
    // And the figure is not absurdly conservative: at a third of the planned looks the judge
    // must detect less often than the stated power.
    let short = detections(
        &report,
        (need.intervals / 3).max(1),
        &truth,
        true,
        &policy,
        5_151,
    );
    assert!(
        (short as f64) < inputs.power * runs() as f64,
        "detected {short} at a third of the plan"
    );
}

#[test]
fn planned_error_ratio_detection_has_the_stated_power() {
    let policy = policy_with_judge(
        "{checks: {errors: [{kind: model, max_ratio: 2.0}]}}",
        "[25, 100]",
    );
    let inputs = PlanInputs {
        rps: 20.0,
        baseline_p99_ms: 300.0,
        error_rate: 0.005,
        power: 0.8,
    };
    let report = plan(&policy, &inputs).expect("plans");
    let need = report.phases[0].checks[0]
        .detect
        .as_ref()
        .expect("error detection is planned at 25%");
    // The planned regression: 1.5 × the 2× the baseline's 0.5% the check allows = 1.5%.
    let truth = Truth {
        latency_factor: 1.0,
        baseline_error_rate: 0.005,
        canary_error_rate: 0.015,
    };
    let detected = detections(&report, need.intervals, &truth, false, &policy, 7_001);
    assert_power(
        &format!(
            "errors_model 0.5% → 1.5% at 25% of 20 rps, {} looks, {} canary requests",
            need.intervals, need.canary_requests
        ),
        detected,
        inputs.power,
    );
}

#[test]
fn planned_p99_detection_has_the_stated_power() {
    let policy = policy_with_judge(
        "{checks: {quantiles: [{q: 0.99, max_increase: 0.15}]}}",
        "[50, 100]",
    );
    let inputs = PlanInputs {
        rps: 20.0,
        baseline_p99_ms: 300.0,
        error_rate: 0.005,
        power: 0.8,
    };
    let report = plan(&policy, &inputs).expect("plans");
    let need = report.phases[0].checks[0]
        .detect
        .as_ref()
        .expect("p99 detection is planned at 50%");
    let truth = Truth {
        latency_factor: 1.15 * 1.1,
        baseline_error_rate: 0.005,
        canary_error_rate: 0.005,
    };
    let detected = detections(&report, need.intervals, &truth, true, &policy, 9_002);
    assert_power(
        &format!(
            "latency_p99 at 50% of 20 rps, {} looks, {} canary requests",
            need.intervals, need.canary_requests
        ),
        detected,
        inputs.power,
    );
}

#[test]
fn planned_safe_times_have_the_stated_power() {
    let inputs = PlanInputs {
        rps: 20.0,
        baseline_p99_ms: 300.0,
        error_rate: 0.005,
        power: 0.8,
    };
    let identical = Truth {
        latency_factor: 1.0,
        baseline_error_rate: 0.005,
        canary_error_rate: 0.005,
    };
    let latency = policy_with_judge("{checks: {latency: {max_increase: 0.10}}}", "[5, 100]");
    let report = plan(&latency, &inputs).expect("plans");
    let need = report.phases[0].checks[0]
        .safe
        .as_ref()
        .expect("a good canary is proven safe at 5%");
    let safe = reaching(
        Outcome::Safe,
        &report,
        need.intervals,
        &identical,
        true,
        &latency,
        8_101,
    );
    assert_power(
        &format!(
            "latency_shift safe at 5% of 20 rps, {} looks, {} canary requests",
            need.intervals, need.canary_requests
        ),
        safe,
        inputs.power,
    );
    let errors = policy_with_judge(
        "{checks: {errors: [{kind: model, max_ratio: 2.0}]}}",
        "[25, 100]",
    );
    let report = plan(&errors, &inputs).expect("plans");
    let need = report.phases[0].checks[0]
        .safe
        .as_ref()
        .expect("a good canary is proven safe at 25%");
    let safe = reaching(
        Outcome::Safe,
        &report,
        need.intervals,
        &identical,
        false,
        &errors,
        8_102,
    );
    assert_power(
        &format!(
            "errors_model safe at 25% of 20 rps, {} looks, {} canary requests",
            need.intervals, need.canary_requests
        ),
        safe,
        inputs.power,
    );
}

/// The default policy with `on_inconclusive: hold` at 20 rps: the plan warns that a good canary is not proven safe at step 1
/// (5%) before `min_duration + inconclusive_limit` (35 minutes) and would be rolled back. The
/// real judge agrees: in 35 looks it proves an identical canary safe in far fewer than the
/// stated 80% of runs.
#[test]
fn default_policy_warning_about_step_1_holds() {
    let policy =
        canaryd::policy::load_file(repo().join("daemon/tests/fixtures/plan/default-hold.yaml"))
            .expect("loads");
    let inputs = PlanInputs {
        rps: 20.0,
        baseline_p99_ms: 300.0,
        error_rate: 0.005,
        power: 0.8,
    };
    let report = plan(&policy, &inputs).expect("plans");
    let step = &report.phases[0];
    assert!(step.ends_by.contains("rolled back"), "{}", step.ends_by);
    let rolled_back = report
        .good_canary_rolled_back
        .as_ref()
        .expect("the rollout is expected to end rolled back");
    assert_eq!(rolled_back.phase, "step 1");
    assert_eq!(rolled_back.after_s, 35.0 * 60.0);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.starts_with("step 1: a good canary would be rolled back")),
        "{:#?}",
        report.warnings
    );
    let identical = Truth {
        latency_factor: 1.0,
        baseline_error_rate: 0.005,
        canary_error_rate: 0.005,
    };
    let looks = (step.expected_s / 60.0).round() as u64;
    assert_eq!(looks, 35);
    let safe = reaching(
        Outcome::Safe,
        &report,
        looks,
        &identical,
        true,
        &policy,
        8_103,
    );
    let (_, upper) = clopper_pearson(safe, runs(), 0.95);
    println!(
        "default policy, step 1 at 20 rps: an identical canary proven safe within 35 looks in {safe}/{} runs",
        runs()
    );
    assert!(upper < inputs.power, "{safe}/{} safe", runs());
}

/// The default policy itself advances inconclusive steps: at 20 rps a good canary is expected
/// to walk every step and be promoted, never rolled back for want of proof.
#[test]
fn default_policy_promotes_a_good_canary_at_20_rps() {
    let policy = canaryd::policy::load_file(repo().join("policies/default.yaml")).expect("loads");
    let inputs = PlanInputs {
        rps: 20.0,
        baseline_p99_ms: 300.0,
        error_rate: 0.005,
        power: 0.8,
    };
    let report = plan(&policy, &inputs).expect("plans");
    assert!(
        report.good_canary_rolled_back.is_none(),
        "{:?}",
        report.good_canary_rolled_back
    );
    for phase in &report.phases {
        assert!(!phase.ends_by.contains("rolled back"), "{}", phase.ends_by);
    }
}
