//! Properties of the statistics core that must hold for any data.
//!
//! Data are integer-valued milliseconds (heavy ties, like real latency) so that shifts by whole
//! numbers are exact in f64 and equalities can be asserted to the last bit or close to it.

use canaryd::judge::histogram::{BinnedPair, LogBuckets};
use canaryd::judge::hodges_lehmann::{
    difference_order_statistic, hodges_lehmann, hodges_lehmann_ratio, moses_interval,
};
use canaryd::judge::mann_whitney::{MannWhitney, mann_whitney, mann_whitney_samples};
use canaryd::judge::quantile::quantile_with_interval_samples;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal};

fn arm(max_len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec((1u32..60).prop_map(f64::from), 1..max_len)
}

fn nearly(a: f64, b: f64) -> bool {
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()) + 1e-12
}

fn same_test(a: &MannWhitney, b: &MannWhitney) -> bool {
    nearly(a.u_canary, b.u_canary)
        && nearly(a.variance, b.variance)
        && nearly(a.z_greater, b.z_greater)
        && nearly(a.z_less, b.z_less)
        && nearly(a.z_two_sided, b.z_two_sided)
        && nearly(a.p_greater, b.p_greater)
        && nearly(a.p_less, b.p_less)
        && nearly(a.p_two_sided, b.p_two_sided)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn swapping_arms_flips_the_statistic(baseline in arm(80), canary in arm(40)) {
        let forward = mann_whitney_samples(&baseline, &canary).expect("data");
        let backward = mann_whitney_samples(&canary, &baseline).expect("data");
        prop_assert!(nearly(forward.u_canary, backward.u_baseline));
        prop_assert!(nearly(forward.u_baseline, backward.u_canary));
        prop_assert!(nearly(forward.z_greater, backward.z_less));
        prop_assert!(nearly(forward.z_less, backward.z_greater));
        prop_assert!(nearly(forward.z_two_sided, backward.z_two_sided));
        prop_assert!(nearly(forward.p_greater, backward.p_less));
        prop_assert!(nearly(forward.p_less, backward.p_greater));
        prop_assert!(nearly(forward.p_two_sided, backward.p_two_sided));
        prop_assert!(nearly(forward.cles, 1.0 - backward.cles));
        // Continuity correction: z_greater + z_less = −1/σ (the statistic itself flips sign).
        if forward.variance > 0.0 {
            prop_assert!(nearly(forward.z_greater + forward.z_less, -1.0 / forward.std_dev()));
        }
    }

    #[test]
    fn probabilities_are_probabilities(baseline in arm(80), canary in arm(40)) {
        let test = mann_whitney_samples(&baseline, &canary).expect("data");
        for p in [test.p_greater, test.p_less, test.p_two_sided, test.cles] {
            prop_assert!((0.0..=1.0).contains(&p));
        }
        prop_assert!(test.p_two_sided >= test.p_greater.min(test.p_less));
    }

    #[test]
    fn adding_a_constant_changes_nothing(
        baseline in arm(80), canary in arm(40), delta in -1000i32..1000,
    ) {
        let delta = f64::from(delta);
        let moved_baseline: Vec<f64> = baseline.iter().map(|v| v + delta).collect();
        let moved_canary: Vec<f64> = canary.iter().map(|v| v + delta).collect();
        let original = mann_whitney_samples(&baseline, &canary).expect("data");
        let moved = mann_whitney_samples(&moved_baseline, &moved_canary).expect("data");
        prop_assert!(same_test(&original, &moved));
        let pair = BinnedPair::from_samples(&baseline, &canary);
        let shifted = pair.shifted(delta);
        prop_assert!(same_test(&original, &mann_whitney(&shifted).expect("data")));
        let hl = hodges_lehmann(&pair, 0.95).expect("data");
        let hl_moved = hodges_lehmann(&shifted, 0.95).expect("data");
        prop_assert_eq!(hl, hl_moved);
    }

    #[test]
    fn scaling_changes_nothing_for_mann_whitney(
        baseline in arm(80), canary in arm(40), factor in 0.001f64..1000.0,
    ) {
        let pair = BinnedPair::from_samples(&baseline, &canary);
        let original = mann_whitney(&pair).expect("data");
        let scaled = mann_whitney(&pair.scaled(factor)).expect("data");
        prop_assert!(same_test(&original, &scaled));
    }

    #[test]
    fn histogram_path_equals_raw_path(
        bins in prop::collection::vec((0u32..30, 0u32..30), 1..40),
    ) {
        let values: Vec<f64> = (0..bins.len()).map(|i| 0.5 * 1.2f64.powi(i as i32)).collect();
        let baseline_counts: Vec<f64> = bins.iter().map(|b| f64::from(b.0)).collect();
        let canary_counts: Vec<f64> = bins.iter().map(|b| f64::from(b.1)).collect();
        let expand = |counts: &[f64]| -> Vec<f64> {
            values
                .iter()
                .zip(counts)
                .flat_map(|(v, c)| std::iter::repeat_n(*v, *c as usize))
                .collect()
        };
        let raw = mann_whitney_samples(&expand(&baseline_counts), &expand(&canary_counts));
        let pair = BinnedPair::from_counts(values.clone(), baseline_counts.clone(), canary_counts.clone())
            .expect("valid histogram");
        let binned = mann_whitney(&pair);
        match (raw, binned) {
            (None, None) => {
                prop_assert!(pair.n_baseline() == 0.0 || pair.n_canary() == 0.0);
            }
            (Some(raw), Some(binned)) => prop_assert!(same_test(&raw, &binned)),
            (raw, binned) => prop_assert!(false, "raw {:?} vs binned {:?}", raw, binned),
        }
    }

    #[test]
    fn hodges_lehmann_estimate_inside_its_interval(
        baseline in arm(60), canary in arm(30), confidence in 0.5f64..0.999,
    ) {
        let pair = BinnedPair::from_samples(&baseline, &canary);
        let hl = hodges_lehmann(&pair, confidence).expect("data");
        prop_assert!(hl.lower <= hl.estimate && hl.estimate <= hl.upper);
        let moses = moses_interval(&pair, confidence).expect("data");
        prop_assert!(moses.lower <= moses.estimate && moses.estimate <= moses.upper);
        prop_assert_eq!(moses.estimate, hl.estimate);
        // A wider confidence never gives a narrower interval.
        let wider = hodges_lehmann(&pair, (confidence + 1.0) / 2.0).expect("data");
        prop_assert!(wider.lower <= hl.lower && wider.upper >= hl.upper);
    }

    #[test]
    fn hodges_lehmann_follows_a_canary_shift(
        baseline in arm(60), canary in arm(30), delta in -50i32..50,
    ) {
        let delta = f64::from(delta);
        let pair = BinnedPair::from_samples(&baseline, &canary);
        let moved = pair.canary_shifted(delta);
        let before = hodges_lehmann(&pair, 0.9).expect("data");
        let after = hodges_lehmann(&moved, 0.9).expect("data");
        prop_assert_eq!(after.estimate, before.estimate + delta);
        prop_assert_eq!(after.lower, before.lower + delta);
        prop_assert_eq!(after.upper, before.upper + delta);
    }

    #[test]
    fn order_statistics_match_brute_force(baseline in arm(25), canary in arm(25)) {
        let pair = BinnedPair::from_samples(&baseline, &canary);
        let mut differences: Vec<f64> = canary
            .iter()
            .flat_map(|c| baseline.iter().map(move |b| c - b))
            .collect();
        differences.sort_by(f64::total_cmp);
        for (index, expected) in differences.iter().enumerate().step_by(7) {
            let k = (index + 1) as f64;
            prop_assert_eq!(difference_order_statistic(&pair, k), Some(*expected));
        }
    }

    #[test]
    fn log_buckets_agree_with_their_edges(value in 0.01f64..100_000.0) {
        let buckets = LogBuckets::new(0.5, 1.1, 150).expect("valid scheme");
        let index = buckets.index_of(value);
        prop_assert!(index < buckets.len());
        if index > 0 {
            prop_assert!(value >= buckets.lower_edge(index) * (1.0 - 1e-12));
        }
        if index + 1 < buckets.len() {
            prop_assert!(value < buckets.upper_edge(index) * (1.0 + 1e-12));
        }
    }
}

#[test]
fn ratio_estimate_on_log_buckets_sees_a_ten_percent_slowdown() {
    let buckets = LogBuckets::new(1.0, 1.02, 600).expect("valid scheme");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let latency = LogNormal::new(100f64.ln(), 0.5).expect("valid distribution");
    let mut baseline = vec![0.0; buckets.len()];
    let mut canary = vec![0.0; buckets.len()];
    for _ in 0..20_000 {
        baseline[buckets.index_of(latency.sample(&mut rng))] += 1.0;
    }
    for _ in 0..5_000 {
        canary[buckets.index_of(1.1 * latency.sample(&mut rng))] += 1.0;
    }
    let pair = BinnedPair::from_log_buckets(&buckets, baseline, canary).expect("valid");
    let ratio = hodges_lehmann_ratio(&pair, 0.95).expect("data");
    assert!(ratio.lower < 1.1 && ratio.upper > 1.1, "{ratio:?}");
    assert!((ratio.estimate - 1.1).abs() < 0.03, "{ratio:?}");
    let test = mann_whitney(&pair).expect("data");
    assert!(test.p_greater < 1e-6);
}

#[test]
fn quantile_interval_covers_at_least_its_confidence() {
    // 1,000 samples of size 40 from a known distribution: the 90% interval for the median
    // (true value 100) must cover it in at least ~90% of them (the binomial interval is
    // conservative); 3 standard errors of slack (≈ 2.8%) keep the fixed seed robust.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let latency = LogNormal::new(100f64.ln(), 0.5).expect("valid distribution");
    let mut covered = 0;
    for _ in 0..1000 {
        let samples: Vec<f64> = (0..40).map(|_| latency.sample(&mut rng)).collect();
        let estimate = quantile_with_interval_samples(&samples, 0.5, 0.9).expect("data");
        if estimate.lower <= 100.0 && 100.0 <= estimate.upper {
            covered += 1;
        }
    }
    assert!(covered >= 872, "covered {covered} of 1000");
}
