//! Speed of the exact statistics core.
//!
//!     cargo bench -p canaryd --bench statistics
//!
//! `mann_whitney_samples/1M_vs_1M` reads its samples from the file named by
//! `CANARYD_MW_BENCH_DATA` when set (written by `daemon/scripts/bench_scipy_mannwhitney.py`, so
//! scipy and this bench time the same data; `daemon/scripts/bench_mannwhitney_vs_scipy.sh` runs
//! both). Otherwise it generates log-normal samples of the same shape itself.
//! File layout: little-endian u64 n_baseline, u64 n_canary, then n_baseline + n_canary f64.

use std::hint::black_box;

use canaryd::judge::histogram::{BinnedPair, LogBuckets};
use canaryd::judge::hodges_lehmann::{
    hodges_lehmann, hodges_lehmann_log_buckets, hodges_lehmann_ratio,
};
use canaryd::judge::mann_whitney::{mann_whitney, mann_whitney_samples};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

const BINS: usize = 2000;
const RAW_SAMPLES: usize = 1_000_000;

fn bench_buckets() -> LogBuckets {
    LogBuckets::new(0.05, 1.006, BINS).expect("valid scheme")
}

/// 2,000 log-spaced bins per arm with realistic counts (log-normal latency, σ = 0.5).
fn binned_pair() -> BinnedPair {
    let buckets = bench_buckets();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let latency = LogNormal::new(100f64.ln(), 0.5).expect("valid distribution");
    let mut baseline = vec![0.0; BINS];
    let mut canary = vec![0.0; BINS];
    for _ in 0..2_000_000 {
        baseline[buckets.index_of(latency.sample(&mut rng))] += 1.0;
    }
    for _ in 0..200_000 {
        canary[buckets.index_of(1.05 * latency.sample(&mut rng))] += 1.0;
    }
    // Every bin occupied in both arms, as the worst case for the O(bins) walks.
    for count in baseline.iter_mut().chain(canary.iter_mut()) {
        *count += 1.0;
    }
    BinnedPair::from_log_buckets(&buckets, baseline, canary).expect("valid histogram")
}

fn read_shared_samples(path: &str) -> Option<(Vec<f64>, Vec<f64>)> {
    let bytes = std::fs::read(path).ok()?;
    let word =
        |index: usize| -> Option<[u8; 8]> { bytes.get(index * 8..index * 8 + 8)?.try_into().ok() };
    let n_baseline = usize::try_from(u64::from_le_bytes(word(0)?)).ok()?;
    let n_canary = usize::try_from(u64::from_le_bytes(word(1)?)).ok()?;
    let values: Option<Vec<f64>> = (2..2 + n_baseline + n_canary)
        .map(|index| word(index).map(f64::from_le_bytes))
        .collect();
    let mut baseline = values?;
    let canary = baseline.split_off(n_baseline);
    Some((baseline, canary))
}

fn raw_samples() -> (Vec<f64>, Vec<f64>) {
    if let Ok(path) = std::env::var("CANARYD_MW_BENCH_DATA") {
        match read_shared_samples(&path) {
            Some(samples) => return samples,
            None => panic!("CANARYD_MW_BENCH_DATA={path}: unreadable sample file"),
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let latency = LogNormal::new(100f64.ln(), 0.5).expect("valid distribution");
    let baseline = (0..RAW_SAMPLES).map(|_| latency.sample(&mut rng)).collect();
    let canary = (0..RAW_SAMPLES)
        .map(|_| 1.02 * latency.sample(&mut rng))
        .collect();
    (baseline, canary)
}

fn binned(c: &mut Criterion) {
    let pair = binned_pair();
    c.bench_function("mann_whitney/2000_bins", |b| {
        b.iter(|| mann_whitney(black_box(&pair)))
    });
    c.bench_function("hodges_lehmann/2000_bins", |b| {
        b.iter(|| hodges_lehmann(black_box(&pair), 0.98))
    });
    c.bench_function("hodges_lehmann_ratio/2000_bins", |b| {
        b.iter(|| hodges_lehmann_ratio(black_box(&pair), 0.98))
    });
    // The same statistics by integer searches on the bucket lattice (what a look uses).
    let buckets = bench_buckets();
    c.bench_function("hodges_lehmann_log_buckets/2000_bins", |b| {
        b.iter(|| {
            hodges_lehmann_log_buckets(
                black_box(&buckets),
                black_box(&pair.baseline),
                black_box(&pair.canary),
                0.98,
            )
        })
    });
}

fn raw(c: &mut Criterion) {
    let (baseline, canary) = raw_samples();
    let mut group = c.benchmark_group("mann_whitney_samples");
    group.sample_size(10);
    group.bench_function("1M_vs_1M", |b| {
        b.iter(|| mann_whitney_samples(black_box(&baseline), black_box(&canary)))
    });
    group.finish();
}

criterion_group!(benches, binned, raw);
criterion_main!(benches);
