//! `canaryd simulate`: the generator against its scenario, determinism, the methods' statistical
//! properties (checked by simulation with stated run counts and 95% intervals) and the CLI.
//!
//! Suite mode keeps run counts small so debug builds stay quick; the long mode raises them:
//! `CANARYD_TEST_SIM_RUNS=2000 cargo test -p canaryd --release --test simulate -- --nocapture`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use canaryd::judge::binomial::{binomial_cdf, clopper_pearson};
use canaryd::model::Split;
use canaryd::policy::Policy;
use canaryd::sim::methods::MethodKind;
use canaryd::sim::pocock::{Sides, pocock_constant};
use canaryd::sim::results::MethodResult;
use canaryd::sim::run::{DEPLOYMENTS, ScenarioSetup, generate_window};
use canaryd::sim::scenario::{self, Scenario};
use canaryd::sim::{KAYENTA_CALIBRATED, SimulateOptions, Simulation, simulate};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn runs(suite: u64) -> u64 {
    std::env::var("CANARYD_TEST_SIM_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(suite)
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A short plan (10% for 5 minutes, then 100% and a 5-minute bake) keeps debug runs quick.
const SHORT_POLICY: &str = "
target: { subscription: 00000000-0000-4000-8000-0000000000aa, resource_group: rg, workspace: ws, endpoint: ep }
source: { log_analytics: { workspace_id: 5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11 } }
plan:
  steps: [10, 100]
  min_duration: 5m
  min_canary_requests: 100
  interval: 1m
  deadline: 1h
failure: { inconclusive_limit: 10m }
after_promotion: { bake_time: 5m }
";

fn policy(text: &str) -> Policy {
    canaryd::policy::parse_str(text, Path::new("test-policy.yaml")).expect("valid policy")
}

fn scenarios(text: &str) -> Vec<Scenario> {
    scenario::parse_str(text, Path::new("test-scenarios.yaml"))
        .expect("valid scenarios")
        .scenarios
}

const AA: &str = "
scenarios:
  - name: aa
    rate: { steady: { rps: 30 } }
    latency: { lognormal: { median_ms: 120, sigma: 0.5 } }
    errors: { model: 0.005 }
    oracle_alternative: { latency_multiplier: 1.10 }
";

const SLOW: &str = "
scenarios:
  - name: slow-1.25x
    rate: { steady: { rps: 30 } }
    latency: { lognormal: { median_ms: 120, sigma: 0.5 } }
    errors: { model: 0.005 }
    canary: { latency_multiplier: 1.25 }
";

fn run_sim(
    policy: &Policy,
    scenarios: &[Scenario],
    methods: &[MethodKind],
    runs: u64,
    seed: u64,
    threads: usize,
) -> Simulation {
    let options = SimulateOptions {
        runs,
        seed,
        methods: methods.to_vec(),
        calibrate: false,
        threads,
    };
    simulate(policy, scenarios, &options, &|_| {}, &|| {}).expect("simulates")
}

fn row<'a>(simulation: &'a Simulation, method: &str) -> &'a MethodResult {
    simulation
        .results
        .iter()
        .find(|r| r.method == method)
        .expect("a row for the method")
}

/// Distribution-free 95% interval for the median of `values` (order statistics).
fn median_interval(values: &[f64]) -> (f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as u64;
    // Largest l with P(Bin(n, ½) < l) ≤ 2.5%; the interval is [X_(l), X_(n+1−l)].
    let mut l = 1;
    while l < n && binomial_cdf(l, n, 0.5) <= 0.025 {
        l += 1;
    }
    (sorted[(l - 1) as usize], sorted[(n - l) as usize])
}

#[test]
fn generator_matches_the_scenario() {
    let scenario = scenarios(
        "
scenarios:
  - name: g
    rate: { steady: { rps: 40 } }
    latency: { lognormal: { median_ms: 100, sigma: 0.5 } }
    errors: { model: 0.01, gateway_5xx: 0.002, throttled: 0.004 }
    oracle_alternative: { latency_multiplier: 1.1 }
",
    );
    let setup = ScenarioSetup::new(
        Arc::new(policy(SHORT_POLICY)),
        Arc::new(scenario[0].clone()),
        canaryd::source::default_buckets(),
    );
    let (baseline, canary) = DEPLOYMENTS;
    let split = Split::new(
        [(baseline.to_string(), 90), (canary.to_string(), 10)].into(),
        Default::default(),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    // 200 one-minute windows at 40 rps: 480,000 requests, 48,000 of them on the canary.
    let windows = 200;
    let mut total = canaryd::judge::ArmObservation::default();
    let mut canary_requests = 0;
    for k in 0..windows {
        let observation = generate_window(&mut rng, &setup, k, &split, 0.0);
        canary_requests += observation.canary.requests;
        total.accumulate(&observation.baseline);
        total.accumulate(&observation.canary);
    }
    let n = total.requests as f64;
    // Poisson total: mean 480,000, sd ≈ 693; 5 sd tolerance.
    assert!((n - 480_000.0).abs() < 3_500.0, "requests {n}");
    // Canary share 10%: binomial sd ≈ 0.00043; 5 sd.
    let share = canary_requests as f64 / n;
    assert!((share - 0.10).abs() < 0.0022, "canary share {share}");
    // Error rates within 5 binomial sd.
    for (kind, count, rate) in [
        ("model", total.model_errors, 0.01),
        ("gateway_5xx", total.errors_5xx, 0.002),
        ("throttled", total.throttled, 0.004),
    ] {
        let observed = count as f64 / n;
        let sd = (rate * (1.0 - rate) / n).sqrt();
        assert!((observed - rate).abs() < 5.0 * sd, "{kind}: {observed}");
    }
    // Median and p99 within one 2% bucket of exp(ln 100 ± …): the bucket scheme's resolution.
    let buckets = canaryd::source::default_buckets();
    let quantile = |q: f64| {
        let mut seen = 0.0;
        for (i, count) in total.latency.iter().enumerate() {
            seen += count;
            if seen >= q * n {
                return buckets.value_of(i);
            }
        }
        f64::NAN
    };
    let p99_true = 100.0 * (0.5_f64 * 2.326_348).exp();
    assert!(
        (quantile(0.5) / 100.0 - 1.0).abs() < 0.02,
        "median {}",
        quantile(0.5)
    );
    assert!(
        (quantile(0.99) / p99_true - 1.0).abs() < 0.03,
        "p99 {}",
        quantile(0.99)
    );
}

#[test]
fn same_seed_same_figures_on_any_thread_count() {
    let policy = policy(SHORT_POLICY);
    let scenarios = scenarios(&format!("{AA}{}", SLOW.replace("scenarios:\n", "")));
    let methods = MethodKind::ALL;
    let json = |simulation: &Simulation| {
        let mut out = Vec::new();
        canaryd::cli::simulate::write_json_lines(simulation, &mut out).expect("writes");
        String::from_utf8(out).expect("utf-8")
    };
    let one = json(&run_sim(&policy, &scenarios, &methods, 6, 9, 1));
    let three = json(&run_sim(&policy, &scenarios, &methods, 6, 9, 3));
    assert_eq!(one, three);
    let other_seed = json(&run_sim(&policy, &scenarios, &methods, 6, 10, 2));
    assert_ne!(
        one, other_seed,
        "a different seed should change some figure"
    );
}

#[test]
fn oracle_detects_a_25_percent_slowdown_faster_than_the_policy_judge() {
    let runs = runs(30);
    let policy = policy(SHORT_POLICY);
    // 10 rps: the 10% canary sees ~60 requests a minute, so detection takes a few minutes.
    let slow = SLOW.replace("rps: 30", "rps: 10");
    let simulation = run_sim(
        &policy,
        &scenarios(&slow),
        &[MethodKind::Policy, MethodKind::Oracle],
        runs,
        5,
        2,
    );
    let oracle = row(&simulation, "oracle");
    let judge = row(&simulation, "policy");
    let (oracle_low, _) = clopper_pearson(oracle.rolled_back_by_judge, runs, 0.95);
    assert!(
        oracle_low > 0.8,
        "oracle detection rate lower bound {oracle_low}"
    );
    let (_, oracle_high) = median_interval(&oracle.detection_minutes);
    let (judge_low, _) = median_interval(&judge.detection_minutes);
    println!(
        "1.25×, {runs} runs: oracle median {:?} min (95% CI up to {oracle_high}), policy judge median {:?} min (95% CI from {judge_low})",
        oracle.median_detection_minutes, judge.median_detection_minutes
    );
    assert!(
        oracle_high < judge_low,
        "oracle's median upper bound {oracle_high} should be below the judge's lower bound {judge_low}"
    );
}

#[test]
fn policy_judge_false_rollbacks_stay_below_alpha_on_aa() {
    let runs = runs(150);
    let policy = policy(SHORT_POLICY);
    let simulation = run_sim(&policy, &scenarios(AA), &[MethodKind::Policy], runs, 11, 2);
    let result = row(&simulation, "policy");
    let [low, high] = result
        .false_rollback_ci
        .expect("A/A has a false-rollback interval");
    println!(
        "A/A, {runs} runs: policy judge false rollbacks {} = {:?} [{low:.4}, {high:.4}]",
        result.rolled_back_by_judge, result.false_rollback_rate
    );
    assert!(high <= policy.judge.alpha, "upper bound {high} > α");
}

#[test]
fn kayenta_style_at_one_percent_per_look_exceeds_one_percent_over_many_looks() {
    let runs = runs(150);
    // Latency check only, margin 0 (A/A sits on the null's boundary, as a Kayenta comparison
    // at a fixed level assumes): 5 steps × 5 looks (the bake is not judged).
    let policy = policy(
        "
target: { subscription: 00000000-0000-4000-8000-0000000000aa, resource_group: rg, workspace: ws, endpoint: ep }
source: { log_analytics: { workspace_id: 5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11 } }
plan: { steps: [5, 10, 25, 50, 100], min_duration: 5m, min_canary_requests: 10, interval: 1m, early_promotion: false }
judge: { alpha: 0.01, checks: { latency: { max_increase: 0.0 } } }
after_promotion: { bake_time: 10m }
",
    );
    let simulation = run_sim(
        &policy,
        &scenarios(AA),
        &[MethodKind::KayentaStyle],
        runs,
        3,
        2,
    );
    let result = row(&simulation, "kayenta-style");
    assert_eq!(result.level, Some(0.01));
    let [low, high] = result.false_rollback_ci.expect("A/A interval");
    println!(
        "A/A, {runs} runs × 25 looks: Kayenta-style at 1% per look rolled back {} [{low:.4}, {high:.4}]",
        result.rolled_back_by_judge
    );
    assert!(low > 0.01, "lower bound {low} should exceed the nominal 1%");
}

#[test]
fn fixed_horizon_methods_pass_a_step_only_at_its_scheduled_end() {
    // Not rejecting is not proof of safety: with early promotion on in the policy, the policy
    // judge may leave the 10% step early, but Kayenta-style and Pocock wait its 5 minutes, so
    // an A/A rollout is promoted no sooner than 5 minutes + the 5-minute bake.
    let runs = runs(20);
    let simulation = run_sim(
        &policy(SHORT_POLICY),
        &scenarios(AA),
        &[MethodKind::KayentaStyle, MethodKind::Pocock],
        runs,
        5,
        2,
    );
    for method in ["kayenta-style", "pocock"] {
        let result = row(&simulation, method);
        assert!(result.promoted > 0, "{method}: some A/A runs promoted");
        let median = result.median_promotion_minutes.expect("promoted runs");
        assert!(
            median >= 10.0,
            "{method}: promoted after {median} min (median), before the step's 5 min + 5 min bake"
        );
    }
}

#[test]
fn fixed_horizon_methods_do_not_judge_the_bake_against_a_silent_baseline() {
    // During the bake the baseline serves nothing. Comparing the canary's new requests with the
    // baseline's old ones would blame the canary for a drift that slows both arms threefold.
    let runs = runs(60);
    let drifting = "
scenarios:
  - name: aa-drift
    rate: { steady: { rps: 30 } }
    latency: { lognormal: { median_ms: 120, sigma: 0.5 } }
    errors: { model: 0.005 }
    drift: { latency_multiplier: 3.0, over: 40m }
    oracle_alternative: { latency_multiplier: 1.10 }
";
    let long_bake = SHORT_POLICY.replace("bake_time: 5m", "bake_time: 30m");
    let simulation = run_sim(
        &policy(&long_bake),
        &scenarios(drifting),
        &[MethodKind::KayentaStyle],
        runs,
        9,
        2,
    );
    let result = row(&simulation, "kayenta-style");
    let [low, high] = result.false_rollback_ci.expect("A/A interval");
    println!(
        "A/A with drift, {runs} runs: Kayenta-style rolled back {} [{low:.4}, {high:.4}]",
        result.rolled_back_by_judge
    );
    assert!(
        high < 0.25,
        "upper bound {high}: the bake was judged against stale baseline data"
    );
    assert!(result.promoted > runs / 2);
}

#[test]
fn calibration_matches_the_worst_scenario_to_promote() {
    // A/A and a canary exactly on the 5% latency margin: both should be promoted. The margin
    // canary is where a Kayenta-style judge rolls back most, so it binds the calibrated level.
    let runs = runs(40);
    let at_margin = format!(
        "{AA}
  - name: latency-at-margin
    rate: {{ steady: {{ rps: 30 }} }}
    latency: {{ lognormal: {{ median_ms: 120, sigma: 0.5 }} }}
    errors: {{ model: 0.005 }}
    canary: {{ latency_multiplier: 1.05 }}
    expect: promote
    oracle_alternative: {{ latency_multiplier: 1.10 }}
"
    );
    let policy = policy(SHORT_POLICY);
    let calibrate = |text: &str| {
        let options = SimulateOptions {
            runs,
            seed: 4,
            methods: vec![MethodKind::Policy],
            calibrate: true,
            threads: 2,
        };
        simulate(&policy, &scenarios(text), &options, &|_| {}, &|| {}).expect("simulates")
    };
    let both = calibrate(&at_margin);
    let target = both
        .summary
        .calibration_target_rollbacks
        .expect("calibrated");
    let policy_rows: Vec<&MethodResult> = both
        .results
        .iter()
        .filter(|r| r.method == "policy")
        .collect();
    assert!(
        policy_rows
            .iter()
            .all(|r| r.acceptable && r.false_rollback_rate.is_some())
    );
    let worst = policy_rows.iter().map(|r| r.rolled_back_by_judge).max();
    assert_eq!(
        Some(target),
        worst,
        "the target is the policy judge's worst scenario"
    );
    for r in both
        .results
        .iter()
        .filter(|r| r.method == KAYENTA_CALIBRATED)
    {
        assert!(
            r.rolled_back_by_judge <= target,
            "{}: {} > {target}",
            r.scenario,
            r.rolled_back_by_judge
        );
    }
    let level = both.summary.calibrated_kayenta_level.expect("level");
    let aa_only = calibrate(AA)
        .summary
        .calibrated_kayenta_level
        .expect("level");
    println!(
        "calibrated level over A/A and the margin canary {level:.3e}, over A/A alone {aa_only:.3e}"
    );
    assert!(
        level < aa_only,
        "the margin canary should bind: {level} vs {aa_only}"
    );
}

#[test]
fn pocock_constants_match_published_values() {
    assert!((pocock_constant(5, 0.05, Sides::Two) - 2.413).abs() < 1e-3);
    assert!((pocock_constant(5, 0.025, Sides::One) - 2.413).abs() < 1e-3);
    assert!((pocock_constant(10, 0.05, Sides::Two) - 2.555).abs() < 1e-3);
}

fn canaryd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_canaryd"))
}

fn write_temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canaryd-simulate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writes");
    path
}

#[test]
fn cli_prints_json_lines_with_the_documented_fields_and_writes_a_report() {
    let policy = write_temp("policy.yaml", SHORT_POLICY);
    let scenario = write_temp(
        "both.yaml",
        &format!("{AA}{}", SLOW.replace("scenarios:\n", "")),
    );
    let report = std::env::temp_dir().join(format!("canaryd-sim-report-{}", std::process::id()));
    let output = canaryd()
        .args([
            "simulate",
            "--runs",
            "3",
            "--json",
            "--methods",
            "policy,kayenta-style,oracle",
        ])
        .arg("--policy")
        .arg(&policy)
        .arg("--scenario")
        .arg(&scenario)
        .arg("--report")
        .arg(&report)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines[0]["kind"], "simulation");
    let results: Vec<&serde_json::Value> = lines.iter().filter(|l| l["kind"] == "result").collect();
    assert_eq!(results.len(), 6, "2 scenarios × 3 methods");
    for field in [
        "scenario",
        "method",
        "runs",
        "false_rollback_rate",
        "false_rollback_ci",
        "detection_rate",
        "median_detection_minutes",
        "median_detection_canary_requests",
        "p90_detection_minutes",
        "median_bad_requests",
        "median_promotion_minutes",
    ] {
        assert!(
            results.iter().all(|r| r.get(field).is_some()),
            "missing {field}"
        );
    }
    let aa = results
        .iter()
        .find(|r| r["scenario"] == "aa")
        .expect("aa row");
    assert!(aa["false_rollback_ci"].is_array());
    assert!(aa["detection_rate"].is_null());
    let slow = results
        .iter()
        .find(|r| r["scenario"] == "slow-1.25x")
        .expect("slow row");
    assert!(slow["false_rollback_rate"].is_null());
    assert!(slow["detection_rate"].is_number());
    for file in ["report.md", "report.json", "false-rollbacks-by-look.svg"] {
        assert!(report.join(file).is_file(), "{file} missing");
    }
    let md = std::fs::read_to_string(report.join("report.md")).expect("report.md");
    assert!(md.contains("| slow-1.25x | oracle |"), "{md}");
    let svg = std::fs::read_to_string(report.join("false-rollbacks-by-look.svg")).expect("svg");
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
}

#[test]
fn cli_bad_input_exits_2_with_the_reason() {
    let policy = write_temp("p.yaml", SHORT_POLICY);
    let good = write_temp("aa.yaml", AA);
    let bad_yaml = write_temp(
        "bad.yaml",
        "scenarios:\n  - name: x\n    rate: {steady: {rps: -3}}\n    latency: { lognormal: { median_ms: 1, sigma: 1 } }\n    oracle_alternative: { latency_multiplier: 1.1 }\n",
    );
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--scenario".into(), "/nonexistent/s.yaml".into()],
            "cannot read the scenario file",
        ),
        (
            vec!["--scenario".into(), bad_yaml.display().to_string()],
            "bad.yaml:3",
        ),
        (
            vec![
                "--scenario".into(),
                good.display().to_string(),
                "--methods".into(),
                "policy,bayes".into(),
            ],
            "unknown method \"bayes\"",
        ),
        (
            vec![
                "--scenario".into(),
                good.display().to_string(),
                "--runs".into(),
                "0".into(),
            ],
            "--runs must be at least 1",
        ),
    ];
    for (args, expected) in cases {
        let output = canaryd()
            .arg("simulate")
            .arg("--policy")
            .arg(&policy)
            .args(&args)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn committed_benchmark_scenarios_load_and_cover_the_required_cases() {
    let file = scenario::load_file(&repo("benchmarks/scenarios/standard.yaml")).expect("valid");
    let names: Vec<&str> = file.scenarios.iter().map(|s| s.name.as_str()).collect();
    for required in [
        "aa-steady",
        "aa-diurnal-drift",
        "aa-heavy-tail",
        "latency-1.10x",
        "latency-1.25x",
        "errors-0.5-to-1.5pct",
        "tail-p99-1.5x",
    ] {
        assert!(
            names.contains(&required),
            "{required} missing from {names:?}"
        );
    }
    let aa = file.scenarios.iter().filter(|s| s.is_aa()).count();
    assert_eq!(aa, 3, "three A/A scenarios");
    // One canary on each of the default policy's margins, to be promoted.
    let policy =
        canaryd::policy::load_file(repo("policies/default.yaml")).expect("the default policy");
    let checks = &policy.judge.checks;
    let on_margin = |name: &str| {
        file.scenarios
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} missing from {names:?}"))
    };
    let latency = on_margin("latency-1.05x-at-margin");
    let latency_margin = checks.latency.as_ref().expect("latency check").max_increase;
    assert!((latency.canary.latency_multiplier - (1.0 + latency_margin)).abs() < 1e-12);
    let p99 = on_margin("p99-1.15x-at-margin");
    let tail = p99.canary.tail.expect("tail change");
    assert!(tail.above_quantile < 0.99);
    assert!((tail.multiplier - (1.0 + checks.quantiles[0].max_increase)).abs() < 1e-12);
    let errors = on_margin("errors-2x-at-margin");
    let ratio = errors.canary_errors().model / errors.errors.model;
    assert!((ratio - checks.errors[0].max_ratio.expect("max_ratio")).abs() < 1e-9);
    for s in [latency, p99, errors] {
        assert!(
            s.is_acceptable() && !s.is_aa(),
            "{} should be promoted",
            s.name
        );
    }
}
