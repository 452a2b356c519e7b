//! The traffic generator, driven by a manual clock and `catch_up` so every run is exact.
//! Statistical checks state their sample size and tolerance next to the assertion.

use azure_emulator::generator::{SLOT_MS, catch_up};
use azure_emulator::model::{Actor, RequestRow, TrafficMap};
use azure_emulator::{Clock, EmulatorState, Scenario};
use std::collections::{HashMap, HashSet};
use time::Duration;
use time::macros::datetime;

const START: time::OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

fn loaded(yaml: &str) -> EmulatorState {
    let state = EmulatorState::new(Clock::manual(START), "h".into());
    Scenario::from_yaml_str(yaml)
        .unwrap_or_else(|e| panic!("{e}"))
        .load_into(&state)
        .unwrap();
    state
}

fn run_for(state: &EmulatorState, seconds: f64) {
    assert!(state.clock.advance(Duration::seconds_f64(seconds)));
    catch_up(state);
}

fn rows(state: &EmulatorState) -> Vec<RequestRow> {
    state.logs.snapshot().rows().copied().collect()
}

fn deployment_name(state: &EmulatorState, row: &RequestRow) -> String {
    state.logs.snapshot().string(row.deployment).to_string()
}

fn by_deployment(state: &EmulatorState, rows: &[RequestRow]) -> HashMap<String, Vec<RequestRow>> {
    let snapshot = state.logs.snapshot();
    let mut out: HashMap<String, Vec<RequestRow>> = HashMap::new();
    for row in rows {
        out.entry(snapshot.string(row.deployment).to_string())
            .or_default()
            .push(*row);
    }
    out
}

fn us(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

/// Nearest-rank quantile.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

const TWO_ENDPOINTS: &str = "
seed: 42
endpoints:
  - name: ep-one
    traffic: {blue: 70, green: 30}
    mirror_traffic: {shadow: 20}
    rate: {steady: {rps: 200}}
    deployments:
      - name: blue
        latency: {median_ms: 80, sigma: 0.3, tail: {probability: 0.01, multiplier: 4}}
        error_rate_5xx: 0.01
        model_error_rate: 0.01
        throttle: {rate: 0.01, delay_ms: 100}
      - name: green
        latency: {median_ms: 90, sigma: 0.4, second_mode: {probability: 0.2, median_ms: 300, sigma: 0.2}}
      - name: shadow
        latency: {median_ms: 60, sigma: 0.2}
  - name: ep-two
    traffic: {alpha: 100}
    rate: {bursty: {base_rps: 20, burst_rps: 300, every_s: 10, duration_s: 2}}
    deployments:
      - name: alpha
        latency: {median_ms: 20, sigma: 0.5}
";

#[test]
fn rows_do_not_depend_on_how_generation_is_chunked() {
    let whole = loaded(TWO_ENDPOINTS);
    run_for(&whole, 60.0);
    let pieces = loaded(TWO_ENDPOINTS);
    // 0.37 s is not a multiple of the slot, so chunk edges fall mid-slot.
    for _ in 0..162 {
        run_for(&pieces, 0.37);
    }
    let remaining = 60.0 - 162.0 * 0.37;
    run_for(&pieces, remaining);
    let (a, b) = (rows(&whole), rows(&pieces));
    assert!(a.len() > 10_000, "{} rows", a.len());
    assert_eq!(a.len(), b.len());
    assert!(a == b, "rows differ between one catch_up and many");

    let other_seed = loaded(&TWO_ENDPOINTS.replace("seed: 42", "seed: 43"));
    run_for(&other_seed, 60.0);
    assert!(
        rows(&other_seed) != a,
        "a different seed gave identical rows"
    );
}

#[test]
fn rows_are_time_ordered_unique_and_internally_consistent() {
    let state = loaded(TWO_ENDPOINTS);
    run_for(&state, 30.0);
    let all = rows(&state);
    assert!(all.windows(2).all(|w| w[0].time_us <= w[1].time_us));
    let seqs: HashSet<u64> = all.iter().map(|r| r.seq).collect();
    assert_eq!(seqs.len(), all.len(), "seq must be unique");
    let end = us(START + Duration::seconds(30));
    for r in &all {
        assert!(r.time_us >= us(START) && r.time_us < end);
        assert!(
            r.request_duration_ms + r.response_duration_ms <= r.total_duration_ms,
            "{r:?}"
        );
        assert!(
            r.request_payload_size > 0 && r.response_payload_size > 0,
            "{r:?}"
        );
        match r.response_code {
            200 => assert_eq!(r.model_status_code, 200),
            424 => assert_eq!(r.model_status_code, 500),
            429 => {
                assert_eq!(r.model_status_code, 0);
                assert_eq!(r.request_throttling_delay_ms, 100);
                assert!(r.total_duration_ms >= 100);
            }
            500 | 502 | 503 => assert_eq!(r.model_status_code, 0),
            other => panic!("unexpected response code {other}"),
        }
    }
}

#[test]
fn manual_clock_rows_appear_only_on_catch_up() {
    let state = loaded(TWO_ENDPOINTS);
    assert!(state.clock.advance(Duration::seconds(10)));
    assert!(state.logs.is_empty());
    catch_up(&state);
    assert!(!state.logs.is_empty());
    // A partial slot produces nothing until it completes.
    let before = state.logs.len();
    assert!(state.clock.advance(Duration::milliseconds(SLOT_MS / 2)));
    catch_up(&state);
    assert_eq!(state.logs.len(), before);
}

/// 1000 rps for 150 s ≈ 150,000 live requests split 70/30.
const SHARES: &str = "
seed: 9
settings: {retention_s: 100000}
endpoints:
  - name: shares
    traffic: {blue: 70, green: 30}
    rate: {steady: {rps: 1000}}
    deployments:
      - name: blue
        latency: {median_ms: 120, sigma: 0.3}
      - name: green
        latency: {median_ms: 200, sigma: 0.35}
";

#[test]
fn shares_follow_the_split_and_latency_follows_the_log_normal() {
    let state = loaded(SHARES);
    run_for(&state, 150.0);
    let all = rows(&state);
    let n = all.len() as f64;
    // Poisson total: mean 150,000, sd ≈ 387.
    assert!((n - 150_000.0).abs() < 2_000.0, "{n} rows");
    let groups = by_deployment(&state, &all);
    for (name, percent, median, sigma) in [
        ("blue", 70.0_f64, 120.0_f64, 0.3_f64),
        ("green", 30.0, 200.0, 0.35),
    ] {
        let rows = &groups[name];
        let share = 100.0 * rows.len() as f64 / n;
        // Binomial sd of the share at n = 150,000 is ≈ 0.12 pp; the brief allows 1 pp.
        assert!((share - percent).abs() < 1.0, "{name}: {share:.2}%");
        let mut latencies: Vec<f64> = rows
            .iter()
            .map(|r| f64::from(r.total_duration_ms))
            .collect();
        latencies.sort_by(f64::total_cmp);
        // Exact log-normal quantiles: median · exp(σ · z_p), z_0.99 = 2.3263478740408408.
        for (p, z) in [(0.5_f64, 0.0_f64), (0.99, 2.326_347_874_040_840_8)] {
            let expected = median * (sigma * z).exp();
            let got = quantile(&latencies, p);
            // Sampling sd of the p99 estimate here is < 0.7%; 3% is the brief's tolerance.
            assert!(
                (got / expected - 1.0).abs() < 0.03,
                "{name} p{}: got {got}, expected {expected:.1}",
                p * 100.0
            );
        }
    }
}

#[test]
fn a_traffic_change_mid_run_shifts_the_shares_at_once() {
    let state = loaded(
        &SHARES
            .replace("rps: 1000", "rps: 100")
            .replace("{blue: 70, green: 30}", "{blue: 100}"),
    );
    run_for(&state, 60.0);
    let change_at = state.now();
    {
        let mut world = state.world();
        let key = world.key_by_name("shares").unwrap();
        let split: TrafficMap = [("blue".to_string(), 50), ("green".to_string(), 50)].into();
        assert!(world.apply_split(&key, split, TrafficMap::new(), Actor::Arm, None, change_at));
    }
    run_for(&state, 60.0);
    let all = rows(&state);
    let (before, after): (Vec<RequestRow>, Vec<RequestRow>) =
        all.iter().partition(|r| r.time_us < us(change_at));
    assert!(before.len() > 5_000 && after.len() > 5_000);
    assert!(before.iter().all(|r| deployment_name(&state, r) == "blue"));
    let green = after
        .iter()
        .filter(|r| deployment_name(&state, r) == "green")
        .count();
    let share = green as f64 / after.len() as f64;
    // n ≈ 6,000: binomial sd ≈ 0.65 pp; 4 pp is > 6 sd.
    assert!(
        (share - 0.5).abs() < 0.04,
        "green share after the change: {share}"
    );
}

#[test]
fn mirrored_requests_are_logged_as_copies_of_live_ones() {
    let state = loaded(TWO_ENDPOINTS);
    run_for(&state, 120.0);
    let all = rows(&state);
    let snapshot = state.logs.snapshot();
    let ep_one = (0..2)
        .find(|i| snapshot.endpoint(*i).unwrap().endpoint_name == "ep-one")
        .unwrap();
    let live: HashMap<u64, RequestRow> = all
        .iter()
        .filter(|r| r.endpoint == ep_one && r.mirror_of.is_none())
        .map(|r| (r.seq, *r))
        .collect();
    let mirrors: Vec<&RequestRow> = all.iter().filter(|r| r.mirror_of.is_some()).collect();
    for m in &mirrors {
        assert_eq!(snapshot.string(m.deployment), "shadow");
        let original = live
            .get(&m.mirror_of.unwrap())
            .expect("mirror of a live request");
        assert_eq!(original.time_us, m.time_us);
        assert_ne!(snapshot.string(original.deployment), "shadow");
    }
    assert!(
        live.values()
            .all(|r| snapshot.string(r.deployment) != "shadow")
    );
    let fraction = mirrors.len() as f64 / live.len() as f64;
    // n ≈ 24,000 live requests: binomial sd of a 20% fraction ≈ 0.26 pp; allow 1.5 pp.
    assert!(
        (fraction - 0.2).abs() < 0.015,
        "mirrored fraction {fraction}"
    );
}

#[test]
fn error_model_error_and_throttle_rates_match_within_binomial_tolerance() {
    let yaml = "
seed: 5
settings: {retention_s: 100000}
endpoints:
  - name: errors
    traffic: {dep: 100}
    rate: {steady: {rps: 1000}}
    deployments:
      - name: dep
        latency: {median_ms: 50, sigma: 0.3}
        error_rate_5xx: 0.03
        model_error_rate: 0.02
        throttle: {rate: 0.05, delay_ms: 300}
";
    let state = loaded(yaml);
    run_for(&state, 60.0);
    let all = rows(&state);
    let n = all.len() as f64;
    assert!(n > 55_000.0);
    let fraction = |f: &dyn Fn(&RequestRow) -> bool| all.iter().filter(|r| f(r)).count() as f64 / n;
    let checks: [(&str, f64, f64); 3] = [
        (
            "5xx",
            0.03,
            fraction(&|r| (500..600).contains(&r.response_code)),
        ),
        (
            "424",
            0.02,
            fraction(&|r| r.response_code == 424 && r.model_status_code == 500),
        ),
        (
            "429",
            0.05,
            fraction(&|r| r.response_code == 429 && r.request_throttling_delay_ms == 300),
        ),
    ];
    for (what, p, got) in checks {
        // Five binomial standard deviations at n ≈ 60,000.
        let tolerance = 5.0 * (p * (1.0 - p) / n).sqrt();
        assert!(
            (got - p).abs() < tolerance,
            "{what}: {got} vs {p} ± {tolerance}"
        );
    }
}

#[test]
fn retention_prunes_old_rows() {
    let state = loaded(
        &SHARES
            .replace("retention_s: 100000", "retention_s: 60")
            .replace("rps: 1000", "rps: 50"),
    );
    run_for(&state, 300.0);
    let all = rows(&state);
    let cutoff = us(state.now()) - 60_000_000;
    assert!(
        all.iter().all(|r| r.time_us >= cutoff),
        "a row older than the retention survived"
    );
    // 300 s at 50 rps ≈ 15,000 generated, ≈ 3,000 kept.
    assert!(state.logs.total_appended() > 12_000);
    assert!(
        all.len() < 4_000 && all.len() > 2_000,
        "{} rows kept",
        all.len()
    );
}

#[test]
fn scheduled_changes_fire_at_their_time() {
    let yaml = "
seed: 1
endpoints:
  - name: ep-x
    traffic: {dep: 100}
    rate: {steady: {rps: 100}}
    deployments:
      - name: dep
        latency: {median_ms: 100, sigma: 0.05}
changes:
  - at_s: 30
    endpoint: ep-x
    deployment: dep
    latency_multiplier: 2
    error_rate_5xx: 1
  - at_s: 45
    endpoint: ep-x
    rate: {steady: {rps: 0}}
";
    let state = loaded(yaml);
    run_for(&state, 60.0);
    let all = rows(&state);
    let at = us(START + Duration::seconds(30));
    let (before, after): (Vec<RequestRow>, Vec<RequestRow>) =
        all.iter().partition(|r| r.time_us < at);
    assert!(before.len() > 2_500 && after.len() > 1_000);
    // sigma 0.05: exp(8σ) = 1.49, so no draw crosses 150 ms by chance.
    assert!(
        before
            .iter()
            .all(|r| r.response_code == 200 && r.total_duration_ms < 150)
    );
    assert!(after.iter().all(|r| (500..600).contains(&r.response_code)));
    assert!(
        after
            .iter()
            .filter(|r| r.response_code != 503)
            .all(|r| r.total_duration_ms > 150),
        "latency multiplier not applied"
    );
    let silent_from = us(START + Duration::seconds(45));
    assert!(
        all.iter().all(|r| r.time_us < silent_from),
        "rate change not applied"
    );
}

#[test]
fn scheduled_faults_fire_at_their_time_even_when_caught_up_late() {
    let yaml = "
seed: 1
endpoints:
  - name: ep-x
    traffic: {blue: 100}
    rate: {steady: {rps: 100}}
    deployments:
      - name: blue
        latency: {median_ms: 100, sigma: 0.1}
      - name: green
        latency: {median_ms: 100, sigma: 0.1}
faults:
  - at_s: 10
    fault: {kind: lro_fail}
  - at_s: 20
    fault: {kind: outside_traffic_change, endpoint: ep-x, traffic: {green: 100}}
  - at_s: 25
    fault: {kind: ingestion_lag_spike, extra_lag_s: 300, duration_s: 60}
";
    let state = loaded(yaml);
    run_for(&state, 9.9);
    assert_eq!(state.faults().take_lro(), None, "fired early");
    run_for(&state, 0.1);
    assert!(
        state.faults().take_lro().is_some(),
        "lro_fail did not fire at 10 s"
    );
    // One long catch-up past both remaining faults.
    run_for(&state, 50.0);
    {
        let world = state.world();
        let outside = world
            .history
            .iter()
            .find(|c| c.actor == Actor::Outside)
            .expect("outside change");
        assert_eq!(outside.at, START + Duration::seconds(20));
        assert_eq!(outside.new_traffic.get("green"), Some(&100));
    }
    let spike_at = START + Duration::seconds(26);
    assert_eq!(state.faults().extra_lag(spike_at), Duration::seconds(300));
    assert_eq!(
        state.faults().extra_lag(START + Duration::seconds(24)),
        Duration::ZERO
    );
    let switch = us(START + Duration::seconds(20));
    for r in rows(&state) {
        let expected = if r.time_us < switch { "blue" } else { "green" };
        assert_eq!(deployment_name(&state, &r), expected);
    }
}

#[test]
fn a_split_naming_an_unknown_deployment_is_skipped_without_panicking() {
    let state = loaded(&SHARES.replace("rps: 1000", "rps: 100"));
    {
        let mut world = state.world();
        let key = world.key_by_name("shares").unwrap();
        let split: TrafficMap = [("blue".to_string(), 50), ("ghost".to_string(), 50)].into();
        let mirror: TrafficMap = [("phantom".to_string(), 10)].into();
        assert!(world.apply_split(&key, split, mirror, Actor::Outside, None, START));
    }
    run_for(&state, 20.0);
    let all = rows(&state);
    // ≈ 2,000 requests, half of them to the unknown deployment and dropped.
    assert!(all.len() > 700 && all.len() < 1_300, "{}", all.len());
    assert!(all.iter().all(|r| deployment_name(&state, r) == "blue"));
}

#[test]
fn an_endpoint_deleted_from_the_world_stops_generating() {
    let state = loaded(TWO_ENDPOINTS);
    {
        let mut world = state.world();
        let key = world.key_by_name("ep-two").unwrap();
        world.endpoints.remove(&key);
    }
    run_for(&state, 5.0);
    let snapshot = state.logs.snapshot();
    assert!(!snapshot.is_empty());
    assert!(
        snapshot
            .rows()
            .all(|r| snapshot.endpoint(r.endpoint).unwrap().endpoint_name == "ep-one")
    );
}

#[test]
fn diurnal_and_bursty_rates_shape_the_arrivals() {
    let yaml = "
seed: 2
endpoints:
  - name: wave
    traffic: {dep: 100}
    rate: {diurnal: {mean_rps: 100, amplitude: 0.5, period_s: 40}}
    deployments:
      - name: dep
        latency: {median_ms: 10, sigma: 0.1}
  - name: burst
    traffic: {dep: 100}
    rate: {bursty: {base_rps: 10, burst_rps: 500, every_s: 20, duration_s: 2}}
    deployments:
      - name: dep
        latency: {median_ms: 10, sigma: 0.1}
";
    let state = loaded(yaml);
    run_for(&state, 40.0);
    let snapshot = state.logs.snapshot();
    let count = |name: &str, from_s: f64, to_s: f64| {
        snapshot
            .rows()
            .filter(|r| snapshot.endpoint(r.endpoint).unwrap().endpoint_name == name)
            .filter(|r| {
                let t = (r.time_us - us(START)) as f64 / 1e6;
                t >= from_s && t < to_s
            })
            .count() as f64
    };
    // Diurnal: the first quarter-period (peak) carries ≈ 100·(10 + 0.5·40/π·1) ≈ 1,318 requests,
    // the third (trough) ≈ 682; Poisson sd ≈ 36 and 26.
    let (peak, trough) = (count("wave", 0.0, 10.0), count("wave", 20.0, 30.0));
    assert!(
        (peak - 1318.0).abs() < 180.0 && (trough - 682.0).abs() < 130.0,
        "{peak} {trough}"
    );
    // Bursty: 2 s at 500 rps (≈ 1,000) then 18 s at 10 rps (≈ 180).
    let (in_burst, after_burst) = (count("burst", 20.0, 22.0), count("burst", 22.0, 40.0));
    assert!((in_burst - 1000.0).abs() < 160.0, "{in_burst}");
    assert!((after_burst - 180.0).abs() < 70.0, "{after_burst}");
}

/// Resident memory at 1,000 requests/s with a one-hour retention, over two simulated hours
/// (7.2 million rows generated, ≈ 3.6 million held). Heavy, so ignored by default; run alone:
/// `cargo test -p azure-emulator --release --test traffic -- --ignored --nocapture memory_`
#[test]
#[ignore = "heavy: 7.2 million rows; run in release, alone"]
fn memory_at_1000_rps_with_one_hour_retention() {
    let state = loaded(&SHARES.replace("retention_s: 100000", "retention_s: 3600"));
    let wall = std::time::Instant::now();
    // 10-second steps, as a scaled clock's background task would catch up.
    for _ in 0..720 {
        run_for(&state, 10.0);
    }
    let elapsed = wall.elapsed();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (hwm_kb, rss_kb) = (field("VmHWM:"), field("VmRSS:"));
    let held = state.logs.len();
    let row_bytes = std::mem::size_of::<RequestRow>();
    println!(
        "generated {} rows in {:.1} s wall ({:.0} rows/s); held {held} rows; \
         RequestRow = {row_bytes} B → {:.0} MB of rows; VmHWM {} MB, VmRSS {} MB",
        state.logs.total_appended(),
        elapsed.as_secs_f64(),
        state.logs.total_appended() as f64 / elapsed.as_secs_f64(),
        (held * row_bytes) as f64 / 1e6,
        hwm_kb / 1024,
        rss_kb / 1024
    );
    assert!(state.logs.total_appended() > 7_000_000);
    // One hour at 1,000 rps, ± 1%.
    assert!(
        (held as f64 - 3_600_000.0).abs() < 36_000.0,
        "{held} rows held"
    );
    assert!(hwm_kb > 0, "no VmHWM in /proc/self/status");
    assert!(
        hwm_kb < 500 * 1024,
        "peak RSS {} MB ≥ 500 MB",
        hwm_kb / 1024
    );
}

#[test]
fn an_absurd_rate_is_capped_instead_of_exhausting_memory() {
    let state = loaded(&SHARES.replace("rps: 1000", "rps: 1e12"));
    run_for(&state, 0.1);
    let n = state.logs.len() as f64;
    // Capped at MAX_RPS: Poisson mean 100,000 per 100 ms slot, sd ≈ 316.
    let expected = azure_emulator::generator::MAX_RPS * 0.1;
    assert!((n - expected).abs() < 2_000.0, "{n} rows");
}

#[tokio::test]
async fn the_background_task_follows_a_scaled_clock() {
    let state = std::sync::Arc::new(EmulatorState::new(Clock::scaled(START, 600.0), "h".into()));
    Scenario::from_yaml_str(TWO_ENDPOINTS)
        .unwrap()
        .load_into(&state)
        .unwrap();
    let task = azure_emulator::generator::spawn(state.clone());
    // Wait (bounded) until a few simulated seconds of rows exist.
    for _ in 0..100 {
        if state.logs.len() > 1_000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    task.abort();
    let all = rows(&state);
    assert!(all.len() > 1_000, "{} rows", all.len());
    let now = us(state.now());
    assert!(all.iter().all(|r| r.time_us < now), "a row from the future");
}

#[tokio::test]
async fn the_background_task_leaves_a_manual_clock_to_catch_up() {
    let state = std::sync::Arc::new(loaded(TWO_ENDPOINTS));
    let task = azure_emulator::generator::spawn(state.clone());
    assert!(state.clock.advance(Duration::seconds(10)));
    // The task returns at once on a manual clock; nothing is generated behind the test's back.
    task.await.unwrap();
    assert!(state.logs.is_empty());
}
