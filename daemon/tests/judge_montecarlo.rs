//! Monte Carlo: false-rollback rates on A/A rollouts (baseline and canary identical) with 24 looks
//! and a traffic share that steps 5 → 10 → 25 → 50% (6 looks each, 1,200 requests a look).
//!
//! * The sequential judge (`evaluate` with latency shift, p99 and model-error checks, every margin
//!   0 so that A/A sits exactly on each null's boundary, α = 0.05 family-wise) must keep its
//!   false-rollback rate ≤ α: the upper end of the two-sided 95% Clopper-Pearson interval on the
//!   observed rate must be ≤ 0.05.
//! * A Kayenta-style fixed-horizon judge (one-sided Mann-Whitney at 1% on the cumulative
//!   requests, re-run at every look, as Kayenta re-runs its judge at each interval) on the very
//!   same data must exceed its nominal 1%: the lower end of its interval must be > 0.01.
//!
//! Runs: 400 in the suite (a few seconds), `CANARYD_TEST_MC_RUNS=20000` for the long mode, e.g.
//! `CANARYD_TEST_MC_RUNS=20000 cargo test -p canaryd --release --test judge_montecarlo -- --nocapture`.

use canaryd::judge::binomial::clopper_pearson;
use canaryd::judge::histogram::{BinnedPair, LogBuckets};
use canaryd::judge::mann_whitney::mann_whitney;
use canaryd::judge::observation::{ArmObservation, ErrorKind, Observation};
use canaryd::judge::spec::{ChecksSpec, ErrorRateSpec, JudgeSpec, LatencyShiftSpec, QuantileSpec};
use canaryd::judge::{JudgeState, Outcome, evaluate};
use rand::RngCore;
use rand_distr::{Binomial, Distribution, LogNormal};

const LOOKS: usize = 24;
const REQUESTS_PER_LOOK: u64 = 1_200;
const SHARES: [f64; 4] = [0.05, 0.10, 0.25, 0.50];
const ERROR_RATE: f64 = 0.01;
const ALPHA: f64 = 0.05;
const KAYENTA_STYLE_LEVEL: f64 = 0.01;

fn runs() -> u64 {
    std::env::var("CANARYD_TEST_MC_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

/// SplitMix64 (Steele, Lea & Flood 2014): statistically adequate for Monte Carlo and much cheaper
/// than ChaCha in unoptimised test builds, which keeps the suite fast.
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

/// 300 buckets of 4% from 1 ms (to ~130 s): coarse enough to keep debug builds quick.
fn buckets() -> LogBuckets {
    LogBuckets::new(1.0, 1.04, 300).expect("valid buckets")
}

fn arm(
    rng: &mut SplitMix64,
    buckets: &LogBuckets,
    requests: u64,
    latency: &LogNormal<f64>,
) -> ArmObservation {
    let mut counts = vec![0.0; buckets.len()];
    for _ in 0..requests {
        counts[buckets.index_of(latency.sample(rng))] += 1.0;
    }
    let model_errors = Binomial::new(requests, ERROR_RATE)
        .expect("valid")
        .sample(rng);
    ArmObservation {
        latency: counts,
        requests,
        errors_5xx: 0,
        model_errors,
        throttled: 0,
    }
}

fn spec() -> JudgeSpec {
    JudgeSpec {
        alpha: ALPHA,
        checks: ChecksSpec {
            latency: Some(LatencyShiftSpec {
                max_increase: 0.0,
                ..LatencyShiftSpec::default()
            }),
            quantiles: vec![QuantileSpec {
                q: 0.99,
                max_increase: 0.0,
                weight: 1.0,
            }],
            errors: vec![ErrorRateSpec {
                kind: ErrorKind::Model,
                max_ratio: Some(1.0),
                max_increase_pp: None,
                weight: 1.0,
            }],
            absolute: Vec::new(),
        },
        ..JudgeSpec::default()
    }
}

#[test]
fn sequential_judge_keeps_false_rollbacks_below_alpha_where_kayenta_style_does_not() {
    let runs = runs();
    let spec = spec();
    spec.validate().expect("valid spec");
    let buckets = buckets();
    let values = buckets.values();
    let latency = LogNormal::new(100.0_f64.ln(), 0.5).expect("valid");
    let mut rng = SplitMix64(20_261_122);
    let (mut sequential_rollbacks, mut kayenta_style_rollbacks) = (0u64, 0u64);
    for _ in 0..runs {
        let mut state = JudgeState::new();
        let (mut sequential_done, mut kayenta_done) = (false, false);
        for look in 0..LOOKS {
            let share = SHARES[look * SHARES.len() / LOOKS];
            // Requests split binomially around the share, as a load balancer does.
            let canary_requests = Binomial::new(REQUESTS_PER_LOOK, share)
                .expect("valid")
                .sample(&mut rng);
            let canary = arm(&mut rng, &buckets, canary_requests, &latency);
            let baseline = arm(
                &mut rng,
                &buckets,
                REQUESTS_PER_LOOK - canary_requests,
                &latency,
            );
            let observation = Observation {
                window_start_unix_s: look as i64 * 300,
                window_end_unix_s: (look as i64 + 1) * 300,
                buckets: buckets.clone(),
                baseline,
                canary,
            };
            let verdict = evaluate(&spec, &mut state, &observation);
            if !sequential_done && verdict.overall == Outcome::Regressed {
                sequential_done = true;
                sequential_rollbacks += 1;
            }
            if !kayenta_done {
                let pair = BinnedPair::from_counts(
                    values.clone(),
                    state.baseline.latency.clone(),
                    state.canary.latency.clone(),
                )
                .expect("valid pair");
                if mann_whitney(&pair).is_some_and(|mw| mw.p_greater < KAYENTA_STYLE_LEVEL) {
                    kayenta_done = true;
                    kayenta_style_rollbacks += 1;
                }
            }
            if sequential_done && kayenta_done {
                break;
            }
        }
    }
    let (seq_low, seq_high) = clopper_pearson(sequential_rollbacks, runs, 0.95);
    let (kay_low, kay_high) = clopper_pearson(kayenta_style_rollbacks, runs, 0.95);
    println!(
        "A/A, {runs} runs × {LOOKS} looks, shares 5→10→25→50%: sequential judge (α = {ALPHA}) false rollbacks {sequential_rollbacks}/{runs} = {:.4} [95% CI {seq_low:.4}, {seq_high:.4}]; Kayenta-style MW at {KAYENTA_STYLE_LEVEL} per look {kayenta_style_rollbacks}/{runs} = {:.4} [95% CI {kay_low:.4}, {kay_high:.4}]",
        sequential_rollbacks as f64 / runs as f64,
        kayenta_style_rollbacks as f64 / runs as f64,
    );
    assert!(
        seq_high <= ALPHA,
        "sequential false-rollback rate's upper bound {seq_high:.4} exceeds α = {ALPHA}"
    );
    assert!(
        kay_low > KAYENTA_STYLE_LEVEL,
        "Kayenta-style repeated test should exceed its nominal {KAYENTA_STYLE_LEVEL}: lower bound {kay_low:.4}"
    );
}

/// Detection speed (long mode, not in the suite): latency-shift check alone (margin 0, α = 0.05)
/// against the Kayenta-style repeated Mann-Whitney at 1%, σ = 0.5 log-normal, a 5% canary share
/// with 60 canary requests a look, 24 looks (the setting of statistics.md). Prints the share of
/// runs that detect and the median canary requests at detection, for 1.05×, 1.10× and 1.25×.
/// `cargo test -p canaryd --release --test judge_montecarlo -- --ignored --nocapture`
#[test]
#[ignore = "long mode: detection-speed measurement, run in release"]
fn detection_speed_against_kayenta_style() {
    let runs = runs();
    let buckets = LogBuckets::new(1.0, 1.01, 1_200).expect("valid buckets");
    let values = buckets.values();
    let spec = JudgeSpec {
        alpha: ALPHA,
        checks: ChecksSpec {
            latency: Some(LatencyShiftSpec {
                max_increase: 0.0,
                ..LatencyShiftSpec::default()
            }),
            quantiles: Vec::new(),
            errors: Vec::new(),
            absolute: Vec::new(),
        },
        ..JudgeSpec::default()
    };
    let baseline_latency = LogNormal::new(100.0_f64.ln(), 0.5).expect("valid");
    for slowdown in [1.05_f64, 1.10, 1.25] {
        let canary_latency = LogNormal::new((100.0 * slowdown).ln(), 0.5).expect("valid");
        let mut rng = SplitMix64(7 + (slowdown * 100.0) as u64);
        let (mut sequential, mut kayenta) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let mut state = JudgeState::new();
            let (mut sequential_at, mut kayenta_at) = (None, None);
            for look in 0..LOOKS {
                let canary = arm(&mut rng, &buckets, 60, &canary_latency);
                let baseline = arm(&mut rng, &buckets, 1_140, &baseline_latency);
                let observation = Observation {
                    window_start_unix_s: look as i64 * 300,
                    window_end_unix_s: (look as i64 + 1) * 300,
                    buckets: buckets.clone(),
                    baseline,
                    canary,
                };
                let verdict = evaluate(&spec, &mut state, &observation);
                let requests = (look as u64 + 1) * 60;
                if sequential_at.is_none() && verdict.overall == Outcome::Regressed {
                    sequential_at = Some(requests);
                }
                if kayenta_at.is_none() {
                    let pair = BinnedPair::from_counts(
                        values.clone(),
                        state.baseline.latency.clone(),
                        state.canary.latency.clone(),
                    )
                    .expect("valid pair");
                    if mann_whitney(&pair).is_some_and(|mw| mw.p_greater < KAYENTA_STYLE_LEVEL) {
                        kayenta_at = Some(requests);
                    }
                }
                if sequential_at.is_some() && kayenta_at.is_some() {
                    break;
                }
            }
            sequential.extend(sequential_at);
            kayenta.extend(kayenta_at);
        }
        let median = |v: &mut Vec<u64>| {
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or(0)
        };
        println!(
            "slowdown {slowdown:.2}×, {runs} runs: sequential detects {:.3} (median {} canary requests); Kayenta-style detects {:.3} (median {})",
            sequential.len() as f64 / runs as f64,
            median(&mut sequential),
            kayenta.len() as f64 / runs as f64,
            median(&mut kayenta),
        );
        assert!(
            !sequential.is_empty(),
            "the sequential judge must detect a {slowdown}× slowdown sometimes"
        );
    }
}
