//! At 100% the baseline serves (almost) nothing: windows with an empty or near-empty baseline
//! must not move the anytime-valid latency statistic by more than they can carry.

use canaryd::judge::{JudgeSpec, JudgeState, Observation, Outcome, RequestSample, evaluate};
use canaryd::source::default_buckets;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

fn samples(rng: &mut ChaCha8Rng, n: usize) -> Vec<RequestSample> {
    let dist = LogNormal::new(45f64.ln(), 0.4).expect("valid log-normal");
    (0..n)
        .map(|_| RequestSample {
            latency_ms: dist.sample(rng).round().max(1.0),
            status_code: Some(200),
            model_status_code: Some(200),
        })
        .collect()
}

fn latency_shift(
    spec: &JudgeSpec,
    state: &mut JudgeState,
    rng: &mut ChaCha8Rng,
    window: i64,
    n_baseline: usize,
    n_canary: usize,
) -> (Outcome, Option<f64>, Option<f64>) {
    let baseline = samples(rng, n_baseline);
    let canary = samples(rng, n_canary);
    let observation = Observation::from_samples(
        default_buckets(),
        window * 30,
        window * 30 + 30,
        &baseline,
        &canary,
    );
    let verdict = evaluate(spec, state, &observation);
    let check = verdict
        .checks
        .iter()
        .find(|c| c.name == "latency_shift")
        .expect("the default spec has a latency shift check");
    (check.outcome, check.statistic, check.e_value_safe)
}

/// Windows in which the baseline served nothing (the bake at 100%) carry no comparison: the
/// cumulative statistic and its e-values stay exactly where the last two-arm window left them,
/// and a window with a few straggling baseline requests moves it by less than one σ.
#[test]
fn windows_without_baseline_requests_leave_the_latency_statistic_unchanged() {
    let spec = JudgeSpec::default();
    let mut state = JudgeState::new();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut last = (Outcome::NoData, None, None);
    for window in 0..12 {
        last = latency_shift(
            &spec,
            &mut state,
            &mut rng,
            window,
            600,
            30 + 20 * window as usize,
        );
    }
    let before_stragglers = last.1.expect("two-arm windows give a statistic");
    let stragglers = latency_shift(&spec, &mut state, &mut rng, 12, 3, 1700);
    let moved = (stragglers.1.expect("statistic") - before_stragglers).abs();
    assert!(
        moved < 1.0,
        "three baseline requests moved the statistic by {moved}σ"
    );
    for window in 13..20 {
        let idle = latency_shift(&spec, &mut state, &mut rng, window, 0, 1700);
        assert_eq!(idle.0, stragglers.0, "window {window}");
        assert_eq!(idle.1, stragglers.1, "window {window}");
        assert_eq!(idle.2, stragglers.2, "window {window}");
    }
}
