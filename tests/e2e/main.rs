//! End-to-end: the real `canaryd` binary (`canaryd run --config …` as a child process) against
//! the in-process Azure emulator, on a clock 100× faster than real time. Every assertion is on
//! the emulator's traffic history (what ARM actually applied), not on the daemon's logs.
//!
//! Run: `cargo test -p canaryd --test e2e` (each test starts its own emulator, directory and
//! database, so they run in parallel).

mod harness;

use std::time::Duration;

use harness::*;

/// Plan used by the regression tests: steps long enough that an advance would be visible.
const SLOW_PLAN: PlanSpec = PlanSpec {
    min_duration_s: 120,
    ..FAST_PLAN
};

/// Green's percent over the daemon's changes, in order.
fn green_steps(world: &World) -> Vec<u32> {
    by_daemon(&world.history()).into_iter().map(green).collect()
}

fn reached_full(world: &World) -> bool {
    by_daemon(&world.history())
        .iter()
        .any(|c| c.new_traffic.get("green") == Some(&100))
}

fn rolled_back(world: &World) -> bool {
    let history = world.history();
    let daemon = by_daemon(&history);
    daemon.len() >= 2 && daemon.last().is_some_and(|c| green(c) == 0)
}

/// Every change the daemon made left the endpoint whole (blue + green = 100, nothing else)
/// with no mirror.
fn assert_never_mixed(world: &World) {
    for change in by_daemon(&world.history()) {
        if !whole(&change.new_traffic) || !change.new_mirror_traffic.is_empty() {
            world.fail(&format!("half-applied or odd split: {}", describe(change)));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_canary_walks_every_step_to_full_traffic() {
    let mut world = World::new(
        "good",
        &scenario(&HEALTHY, 200, 2, ""),
        &[("my-ep.yaml", policy(ENDPOINT, &FAST_PLAN))],
    )
    .await;
    world.start_daemon();
    world.wait_for("green at 100%", reached_full).await;
    // Bake (20 s) plus a few intervals: nothing more may change.
    world.pass(Duration::from_secs(60)).await;
    world.check_alive();
    let steps = green_steps(&world);
    if steps != [5, 10, 25, 50, 100] {
        world.fail(&format!(
            "expected steps 5,10,25,50,100 each once, got {steps:?}"
        ));
    }
    let last = world
        .history()
        .last()
        .cloned()
        .expect("history is not empty");
    if last.new_traffic.contains_key("blue") {
        world.fail("the baseline still has live traffic after promotion");
    }
    assert_never_mixed(&world);
}

/// Rolled back within two intervals of the first window that shows the regression: the
/// first 10 s window at 5% (≈100 canary requests, enough for a 1.5× shift) is queryable 10 s
/// (ingestion delay) after it closes; two intervals and the 2 s operation later the rollback
/// must be applied.
async fn assert_regression_rolled_back(name: &'static str, green_behaviour: Behaviour) {
    let mut world = World::new(
        name,
        &scenario(&green_behaviour, 200, 2, ""),
        &[("my-ep.yaml", policy(ENDPOINT, &SLOW_PLAN))],
    )
    .await;
    world.start_daemon();
    world.wait_for("a rollback to blue", rolled_back).await;
    let history = world.history();
    let daemon = by_daemon(&history);
    let steps: Vec<u32> = daemon.iter().map(|c| green(c)).collect();
    if steps != [5, 0] {
        world.fail(&format!(
            "expected the first step then a rollback (5, 0), got {steps:?}"
        ));
    }
    let first_step = daemon[0].at;
    let rollback = daemon[1].at;
    let interval = time::Duration::seconds(SLOW_PLAN.interval_s.into());
    let data_visible = first_step + interval + time::Duration::seconds(10);
    let bound = data_visible + interval * 2 + time::Duration::seconds(2);
    if rollback > bound {
        world.fail(&format!(
            "rollback at {rollback}, later than two intervals after the regression was visible ({data_visible}; bound {bound})"
        ));
    }
    if daemon[1].new_traffic.get("blue") != Some(&100) {
        world.fail("the rollback did not put all traffic on blue");
    }
    assert_never_mixed(&world);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_regression_is_rolled_back_within_two_intervals() {
    assert_regression_rolled_back(
        "latency",
        Behaviour {
            median_ms: HEALTHY.median_ms * 1.5,
            error_rate_5xx: HEALTHY.error_rate_5xx,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_rate_regression_is_rolled_back_within_two_intervals() {
    assert_regression_rolled_back(
        "errors",
        Behaviour {
            median_ms: HEALTHY.median_ms,
            error_rate_5xx: 0.10,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_promotion_while_the_metrics_source_is_down() {
    let mut world = World::new(
        "source-down",
        &scenario(&HEALTHY, 200, 2, ""),
        &[("my-ep.yaml", policy(ENDPOINT, &FAST_PLAN))],
    )
    .await;
    world.start_daemon();
    world
        .wait_for("the first step", |w| green_steps(w).first() == Some(&5))
        .await;
    world
        .inject(
            serde_json::json!({"kind": "log_analytics_error", "status": 503, "count": 1_000_000}),
        )
        .await;
    let outage_start = world.now();
    // Four minimum durations of outage: without the outage the rollout would have advanced.
    world.pass(Duration::from_secs(120)).await;
    world.check_alive();
    let history = world.history();
    for change in by_daemon(&history) {
        if change.at > outage_start && green(change) > 5 {
            world.fail(&format!(
                "traffic increased while Log Analytics was failing: {}",
                describe(change)
            ));
        }
    }
    if green_steps(&world) != [5] {
        world.fail("the daemon changed traffic during the outage");
    }
    // Source back: the rollout carries on.
    world.clear_faults();
    world
        .wait_for("green at 100% after the outage", reached_full)
        .await;
    let steps = green_steps(&world);
    if steps != [5, 10, 25, 50, 100] {
        world.fail(&format!(
            "expected 5,10,25,50,100 after the outage, got {steps:?}"
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_long_running_operations_are_retried_without_half_state() {
    let mut world = World::new(
        "lro-fail",
        &scenario(&HEALTHY, 200, 2, ""),
        &[("my-ep.yaml", policy(ENDPOINT, &FAST_PLAN))],
    )
    .await;
    // The first two operations (the first step's) fail in Azure.
    world
        .inject(serde_json::json!({"kind": "lro_fail", "count": 2}))
        .await;
    world.start_daemon();
    world.wait_for("green at 100%", reached_full).await;
    let steps = green_steps(&world);
    if steps != [5, 10, 25, 50, 100] {
        world.fail(&format!(
            "expected exactly the intended changes 5,10,25,50,100, got {steps:?}"
        ));
    }
    let history = world.history();
    // Besides the scenario's initial split, only the daemon's intended changes were applied.
    if history
        .iter()
        .any(|c| c.actor == azure_emulator::model::Actor::Outside)
    {
        world.fail("unexpected outside change");
    }
    assert_never_mixed(&world);
    // The failed operations applied nothing: the first applied change starts from blue=100.
    let first = by_daemon(&history)[0];
    if first.old_traffic.get("blue") != Some(&100) || first.old_traffic.len() != 1 {
        world.fail("the endpoint was left in a half state by a failed operation");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_traffic_change_pauses_the_rollout() {
    let mut world = World::new(
        "outside",
        &scenario(&HEALTHY, 200, 2, ""),
        &[("my-ep.yaml", policy(ENDPOINT, &FAST_PLAN))],
    )
    .await;
    world.start_daemon();
    world
        .wait_for("the second step", |w| green_steps(w).contains(&10))
        .await;
    // Let the daemon see its change complete, so the outside change lands between its ticks.
    world.pass(Duration::from_secs(5)).await;
    world
        .inject(serde_json::json!({
            "kind": "outside_traffic_change",
            "endpoint": ENDPOINT,
            "traffic": {"blue": 80, "green": 20}
        }))
        .await;
    let outside_at = world.now();
    // Several minimum durations: an unpaused rollout would have moved on (or back).
    world.pass(Duration::from_secs(150)).await;
    world.check_alive();
    let history = world.history();
    for change in by_daemon(&history) {
        if change.at >= outside_at {
            world.fail(&format!(
                "the daemon changed traffic after someone else did: {}",
                describe(change)
            ));
        }
    }
    let last = history.last().cloned().expect("history is not empty");
    if last.actor != azure_emulator::model::Actor::Outside {
        world.fail("the outside change is not the last change");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_step_then_restart_skips_and_repeats_nothing() {
    // A long operation (20 s) so the kill lands while a traffic change is in flight.
    let mut world = World::new(
        "sigkill",
        &scenario(&HEALTHY, 200, 20, ""),
        &[("my-ep.yaml", policy(ENDPOINT, &FAST_PLAN))],
    )
    .await;
    world.start_daemon();
    world
        .wait_for("the change to the second step in flight", |w| {
            green_steps(w) == [5] && w.updating()
        })
        .await;
    world.kill_daemon();
    world.pass(Duration::from_secs(5)).await;
    world.start_daemon();
    world.wait_for("green at 100%", reached_full).await;
    world.pass(Duration::from_secs(40)).await;
    world.check_alive();
    let steps = green_steps(&world);
    if steps != [5, 10, 25, 50, 100] {
        world.fail(&format!(
            "expected 5,10,25,50,100 each once across the restart, got {steps:?}"
        ));
    }
    assert_never_mixed(&world);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_policy_is_reported_and_the_good_one_still_runs() {
    // Line 15 holds the steps; 10 then 5 is not increasing.
    let bad =
        policy("other-ep", &FAST_PLAN).replace("steps: [5, 10, 25, 50, 100]", "steps: [10, 5]");
    let steps_line = bad
        .lines()
        .position(|l| l.contains("steps: [10, 5]"))
        .expect("the bad policy has a steps line")
        + 1;
    let mut world = World::new(
        "bad-policy",
        &scenario(&HEALTHY, 200, 2, ""),
        &[
            ("bad.yaml", bad),
            ("my-ep.yaml", policy(ENDPOINT, &FAST_PLAN)),
        ],
    )
    .await;
    let bad_path = world.policies_dir().join("bad.yaml");
    let good_path = world.policies_dir().join("my-ep.yaml");
    let (code, output) = check(&[&bad_path, &good_path]);
    assert_eq!(
        code, 1,
        "canaryd check exits 1 on an invalid policy:\n{output}"
    );
    let prefix = format!("{}:{steps_line}:", bad_path.display());
    let error_line = output
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("check names {prefix}<column>:\n{output}"));
    let column = error_line[prefix.len()..]
        .split(':')
        .next()
        .and_then(|c| c.parse::<u32>().ok());
    assert!(
        column.is_some_and(|c| c > 0),
        "a column follows the line: {error_line}"
    );
    assert!(
        error_line.contains("fix"),
        "the error says how to fix it: {error_line}"
    );
    let (code, output) = check(&[&good_path]);
    assert_eq!(code, 0, "the good policy passes:\n{output}");

    world.start_daemon();
    world
        .wait_for("green at 100% on the good endpoint", reached_full)
        .await;
    let steps = green_steps(&world);
    if steps != [5, 10, 25, 50, 100] {
        world.fail(&format!("expected 5,10,25,50,100, got {steps:?}"));
    }
}

#[test]
fn demo_policies_pass_canaryd_check() {
    let dir = std::env::temp_dir().join(format!("canaryd-e2e-demo-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a directory");
    let paths: Vec<std::path::PathBuf> = canaryd::demo::POLICIES
        .iter()
        .map(|(file, text)| {
            let path = dir.join(file);
            std::fs::write(&path, text).expect("write a demo policy");
            path
        })
        .collect();
    let refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    let (code, output) = check(&refs);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "the embedded demo policies are valid:\n{output}");
}
