//! One full look (`evaluate`) with 2,000 latency bins per arm, every bin occupied (the worst
//! case for the O(bins) merges), after 20 earlier looks. One benchmark per check kind, so the
//! cost per metric can be read off; target < 20 µs per metric.
//!
//! `cargo bench -p canaryd --bench look`
//!
//! With `CANARYD_TEST_BENCH_CPU_TIME=1` (Linux) the same benchmarks are timed in this thread's CPU
//! time (`CLOCK_THREAD_CPUTIME_ID`) instead of wall time, as group `look_2000_bins_cpu`: on a
//! shared machine the wall time also counts the time the bench waits for a core while other
//! builds run; the CPU time does not (it still pays for shared caches).

use std::hint::black_box;

use canaryd::judge::histogram::LogBuckets;
use canaryd::judge::observation::{ArmObservation, ErrorKind, Observation};
use canaryd::judge::sequential::{LatencyShiftState, MixtureBoundary, decide};
use canaryd::judge::spec::{
    AbsoluteSpec, ChecksSpec, ErrorRateSpec, JudgeSpec, LatencyShiftSpec, QuantileSpec,
};
use canaryd::judge::{JudgeState, evaluate};
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BatchSize, Criterion, Throughput};

const BINS: usize = 2_000;

/// Counts over the bins: a log-normal bump (σ = 150 bins of 1%, i.e. ln-latency σ ≈ 1.5), plus
/// one request in every bin when `every_bin` (the worst case).
fn arm(requests: u64, centre_bin: f64, seed: u64, every_bin: bool) -> ArmObservation {
    let floor = if every_bin { 1.0 } else { 0.0 };
    let latency: Vec<f64> = (0..BINS)
        .map(|k| {
            let x = (k as f64 - centre_bin) / 150.0;
            let bump = ((requests as f64) * (-0.5 * x * x).exp() / 376.0).floor();
            let jitter = if bump > 0.0 {
                ((k as u64 * 7 + seed) % 3) as f64
            } else {
                0.0
            };
            floor + bump + jitter
        })
        .collect();
    let total = latency.iter().sum::<f64>() as u64;
    ArmObservation {
        latency,
        requests: total,
        errors_5xx: total / 500,
        model_errors: total / 200 + seed % 3,
        throttled: total / 1000,
    }
}

fn observation(buckets: &LogBuckets, look: u64, every_bin: bool) -> Observation {
    Observation {
        window_start_unix_s: look as i64 * 60,
        window_end_unix_s: (look as i64 + 1) * 60,
        buckets: buckets.clone(),
        baseline: arm(50_000, 1_000.0, look, every_bin),
        canary: arm(5_000, 1_010.0, look + 1, every_bin),
    }
}

fn spec(checks: ChecksSpec) -> JudgeSpec {
    JudgeSpec {
        checks,
        ..JudgeSpec::default()
    }
}

fn none() -> ChecksSpec {
    ChecksSpec {
        latency: None,
        quantiles: Vec::new(),
        errors: Vec::new(),
        absolute: Vec::new(),
    }
}

fn bench_look<M: Measurement>(c: &mut Criterion<M>, group_name: &str) {
    let buckets = LogBuckets::new(0.1, 1.01, BINS).expect("valid buckets");
    let latency_only = spec(ChecksSpec {
        latency: Some(LatencyShiftSpec::default()),
        ..none()
    });
    let cases: Vec<(&str, JudgeSpec)> = vec![
        (
            "latency_shift",
            spec(ChecksSpec {
                latency: Some(LatencyShiftSpec::default()),
                ..none()
            }),
        ),
        (
            "quantile_p99",
            spec(ChecksSpec {
                quantiles: vec![QuantileSpec {
                    q: 0.99,
                    max_increase: 0.15,
                    weight: 1.0,
                }],
                ..none()
            }),
        ),
        (
            "errors_ratio",
            spec(ChecksSpec {
                errors: vec![ErrorRateSpec {
                    kind: ErrorKind::Model,
                    max_ratio: Some(2.0),
                    max_increase_pp: None,
                    weight: 1.0,
                }],
                ..none()
            }),
        ),
        (
            "errors_pp",
            spec(ChecksSpec {
                errors: vec![ErrorRateSpec {
                    kind: ErrorKind::Gateway5xx,
                    max_ratio: None,
                    max_increase_pp: Some(0.5),
                    weight: 1.0,
                }],
                ..none()
            }),
        ),
        (
            "absolute_p99_ms",
            spec(ChecksSpec {
                absolute: vec![AbsoluteSpec {
                    metric: "p99_ms".to_string(),
                    max: 300.0,
                    weight: 1.0,
                }],
                ..none()
            }),
        ),
        (
            "absolute_error_rate",
            spec(ChecksSpec {
                absolute: vec![AbsoluteSpec {
                    metric: "error_rate".to_string(),
                    max: 0.01,
                    weight: 1.0,
                }],
                ..none()
            }),
        ),
        ("default_three_checks", JudgeSpec::default()),
    ];
    let mut group = c.benchmark_group(group_name);
    let mut bench = |name: &str, spec: &JudgeSpec, every_bin: bool| {
        let mut state = JudgeState::new();
        for look in 0..20 {
            evaluate(spec, &mut state, &observation(&buckets, look, every_bin));
        }
        let next = observation(&buckets, 20, every_bin);
        group.bench_function(name, |b| {
            b.iter_batched(
                || state.clone(),
                // The state is handed back so that freeing it (criterion drops the outputs
                // after timing) is not counted: a daemon keeps it from look to look.
                |mut state| {
                    let verdict = evaluate(spec, &mut state, black_box(&next));
                    black_box((verdict, state))
                },
                BatchSize::SmallInput,
            )
        });
    };
    for (name, spec) in &cases {
        bench(name, spec, true);
    }
    // Realistic occupancy: only the ~900 bins under the bump hold requests.
    bench("latency_shift_900_occupied", &latency_only, false);

    // The latency decision alone (both rank merges + the boundary), without the descriptive
    // Mann-Whitney / Hodges-Lehmann evidence on the cumulative histograms.
    let latency_spec = LatencyShiftSpec::default();
    let boundary = MixtureBoundary::new(&latency_spec, 0.05 / 3.0);
    let values = buckets.values();
    let window = observation(&buckets, 20, true);
    let mut shift = LatencyShiftState::default();
    for look in 0..20 {
        let earlier = observation(&buckets, look, true);
        shift.update(
            &latency_spec,
            &values,
            &earlier.baseline.latency,
            &earlier.canary.latency,
        );
    }
    group.bench_function("latency_shift_decision_only", |b| {
        b.iter_batched(
            || shift.clone(),
            |mut shift| {
                shift.update(
                    &latency_spec,
                    &values,
                    &window.baseline.latency,
                    &window.canary.latency,
                );
                black_box((decide(&boundary, &shift), shift))
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// This thread's CPU time in nanoseconds.
#[cfg(target_os = "linux")]
fn thread_cpu_nanos() -> u64 {
    #[repr(C)]
    struct Timespec {
        seconds: i64,
        nanos: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut time = Timespec {
        seconds: 0,
        nanos: 0,
    };
    // SAFETY: clock_gettime writes one timespec (two i64 on 64-bit Linux) through a valid pointer.
    let status = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut time) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    time.seconds as u64 * 1_000_000_000 + time.nanos as u64
}

/// Criterion measurement in thread CPU time (ns).
#[cfg(target_os = "linux")]
struct ThreadCpuTime;

#[cfg(target_os = "linux")]
impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_nanos()
    }

    fn end(&self, start: u64) -> u64 {
        thread_cpu_nanos().saturating_sub(start)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &NanosFormatter
    }
}

/// Formats nanoseconds as criterion does durations.
struct NanosFormatter;

impl ValueFormatter for NanosFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical < 1e3 {
            (1.0, "ns")
        } else if typical < 1e6 {
            (1e-3, "µs")
        } else if typical < 1e9 {
            (1e-6, "ms")
        } else {
            (1e-9, "s")
        };
        for value in values {
            *value *= factor;
        }
        unit
    }

    fn scale_throughputs(&self, _: f64, _: &Throughput, _: &mut [f64]) -> &'static str {
        "(no throughput)"
    }

    fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn main() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("CANARYD_TEST_BENCH_CPU_TIME").is_some() {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpuTime)
            .configure_from_args();
        bench_look(&mut c, "look_2000_bins_cpu");
        c.final_summary();
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_look(&mut c, "look_2000_bins");
    c.final_summary();
}
