//! Rows generated per second by the traffic generator.
//!
//! `cargo bench -p azure-emulator --bench generator`
//!
//! Each iteration loads a fresh scenario on a manual clock and catches up 10 simulated
//! seconds; throughput is reported in expected rows (rate × seconds, plus mirrored copies).

use azure_emulator::{Clock, EmulatorState, Scenario, generator};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use time::macros::datetime;

const SECONDS: i64 = 10;

fn scenario(rps: u32, mirror: bool) -> Scenario {
    let mirror = if mirror {
        "mirror_traffic: {shadow: 20}"
    } else {
        ""
    };
    let yaml = format!(
        "
seed: 1
endpoints:
  - name: bench-ep
    traffic: {{blue: 90, green: 10}}
    {mirror}
    rate: {{steady: {{rps: {rps}}}}}
    deployments:
      - name: blue
        latency: {{median_ms: 50, sigma: 0.3, tail: {{probability: 0.01, multiplier: 5}}}}
        error_rate_5xx: 0.01
        model_error_rate: 0.01
        throttle: {{rate: 0.01, delay_ms: 100}}
      - name: green
        latency: {{median_ms: 55, sigma: 0.35, second_mode: {{probability: 0.1, median_ms: 200, sigma: 0.2}}}}
      - name: shadow
        latency: {{median_ms: 60, sigma: 0.3}}
"
    );
    match Scenario::from_yaml_str(&yaml) {
        Ok(s) => s,
        Err(e) => panic!("bench scenario: {e}"),
    }
}

fn bench_catch_up(c: &mut Criterion) {
    let mut group = c.benchmark_group("catch_up_10s");
    for (rps, mirror) in [(1_000u32, false), (10_000, false), (10_000, true)] {
        let scenario = scenario(rps, mirror);
        let rows = u64::from(rps) * SECONDS as u64 * if mirror { 12 } else { 10 } / 10;
        group.throughput(Throughput::Elements(rows));
        let name = format!("{rps}rps{}", if mirror { "_mirror20" } else { "" });
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let state = EmulatorState::new(
                        Clock::manual(datetime!(2026-01-01 00:00 UTC)),
                        "h".into(),
                    );
                    if let Err(e) = scenario.load_into(&state) {
                        panic!("load: {e}");
                    }
                    state.clock.advance(time::Duration::seconds(SECONDS));
                    state
                },
                |state| {
                    generator::catch_up(&state);
                    black_box(state.logs.len())
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_catch_up);
criterion_main!(benches);
