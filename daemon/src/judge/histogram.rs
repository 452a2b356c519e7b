//! Histograms shared by both arms: the log-spaced bucket scheme that the KQL query and the
//! daemon agree on, the binned pair that the exact tests run on, and an HDR histogram for
//! raw samples.
//!
//! The statistics (Mann-Whitney, Hodges-Lehmann) only need, for every distinct value, how
//! many baseline and how many canary observations carry it: [`BinnedPair`]. Raw samples are
//! the special case of one bin per distinct value (statistics.md, "Shared core").

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a histogram or bucket scheme was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum HistogramError {
    #[error("bucket scheme needs min_ms > 0 and finite (got {0})")]
    InvalidMinimum(f64),
    #[error("bucket scheme needs growth > 1 and finite (got {0})")]
    InvalidGrowth(f64),
    #[error("bucket scheme needs at least one bucket")]
    NoBuckets,
    #[error("bucket scheme's last edge overflows f64 (min {min_ms} · growth {growth}^{count})")]
    EdgeOverflow {
        min_ms: f64,
        growth: f64,
        count: usize,
    },
    #[error("lengths differ: {values} values, {baseline} baseline counts, {canary} canary counts")]
    LengthMismatch {
        values: usize,
        baseline: usize,
        canary: usize,
    },
    #[error("bin values must be finite and strictly increasing (index {index})")]
    NotIncreasing { index: usize },
    #[error("counts must be finite and non-negative (index {index}: {count})")]
    InvalidCount { index: usize, count: f64 },
    #[error("latency must be finite and non-negative (got {0} ms)")]
    InvalidLatency(f64),
    #[error("HDR histogram: {0}")]
    Hdr(String),
}

/// A fixed log-spaced bucket scheme: bucket `i` covers `[min·g^i, min·g^(i+1))`.
///
/// Bucket 0 also absorbs every value below `min_ms` (including 0 and negatives) and the last
/// bucket absorbs every value at or above its lower edge, so every latency lands somewhere.
/// The index is `floor(ln(v/min)/ln(g))`, clamped to `[0, count−1]`; [`Self::kql_bucket_expr`]
/// emits the same expression for Log Analytics so both arms are binned identically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogBuckets {
    min_ms: f64,
    growth: f64,
    count: usize,
}

impl LogBuckets {
    /// A scheme of `count` buckets starting at `min_ms`, each `growth` times wider than the last.
    pub fn new(min_ms: f64, growth: f64, count: usize) -> Result<LogBuckets, HistogramError> {
        if !(min_ms.is_finite() && min_ms > 0.0) {
            return Err(HistogramError::InvalidMinimum(min_ms));
        }
        if !(growth.is_finite() && growth > 1.0) {
            return Err(HistogramError::InvalidGrowth(growth));
        }
        if count == 0 {
            return Err(HistogramError::NoBuckets);
        }
        let top = min_ms * growth.powf(count as f64);
        if !top.is_finite() {
            return Err(HistogramError::EdgeOverflow {
                min_ms,
                growth,
                count,
            });
        }
        Ok(LogBuckets {
            min_ms,
            growth,
            count,
        })
    }

    pub fn min_ms(&self) -> f64 {
        self.min_ms
    }

    pub fn growth(&self) -> f64 {
        self.growth
    }

    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always false: a scheme has at least one bucket.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bucket of a latency in ms. Below `min_ms` (and NaN) → 0; beyond the last edge → last.
    pub fn index_of(&self, value_ms: f64) -> usize {
        if value_ms.is_nan() || value_ms < self.min_ms {
            return 0;
        }
        // Same arithmetic as the KQL expression: floor(log(v / min) / log(g)).
        let raw = ((value_ms / self.min_ms).ln() / self.growth.ln()).floor();
        if raw >= (self.count - 1) as f64 {
            self.count - 1
        } else if raw <= 0.0 {
            0
        } else {
            raw as usize
        }
    }

    /// Lower edge of bucket `i`: `min·g^i` (bucket 0 also holds everything below it).
    pub fn lower_edge(&self, index: usize) -> f64 {
        self.min_ms * self.growth.powf(index as f64)
    }

    /// Upper edge of bucket `i`: `min·g^(i+1)` (the last bucket also holds everything above).
    pub fn upper_edge(&self, index: usize) -> f64 {
        self.min_ms * self.growth.powf(index as f64 + 1.0)
    }

    /// Representative value of bucket `i`: the geometric midpoint `min·g^(i+½)`. On these
    /// values every ratio of representatives is a whole power of `g`, so a ratio estimate
    /// (Hodges-Lehmann on ln values) moves in steps of `g` (or `√g` between two).
    pub fn value_of(&self, index: usize) -> f64 {
        self.min_ms * self.growth.powf(index as f64 + 0.5)
    }

    /// Representative values of every bucket, strictly increasing.
    pub fn values(&self) -> Vec<f64> {
        (0..self.count).map(|i| self.value_of(i)).collect()
    }

    /// KQL expression computing [`Self::index_of`] for a column (in ms) in Log Analytics.
    ///
    /// `min()`/`max()` are aggregates in KQL, so the clamps are written with `iff`; KQL's
    /// `floor(x, 1)` is `bin()` (a one-argument `floor` does not exist in KQL).
    pub fn kql_bucket_expr(&self, column: &str) -> String {
        let min = kql_real(self.min_ms);
        let log_growth = kql_real(self.growth);
        let last = self.count - 1;
        let raw = format!("toint(floor(log(todouble({column}) / {min}) / log({log_growth}), 1))");
        format!("iff(todouble({column}) < {min}, 0, iff({raw} >= {last}, {last}, {raw}))")
    }
}

/// A real literal that KQL parses back to the same f64 (shortest round-trip digits, never
/// exponent notation, always with a decimal point).
fn kql_real(value: f64) -> String {
    let text = format!("{value}");
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

/// Both arms' counts over one shared, strictly increasing list of bin values.
///
/// Counts are f64 so weights are exact for any realistic volume (integers up to 2^53) and sums
/// of cubes (the tie term) don't overflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinnedPair {
    /// Strictly increasing bin values.
    pub values: Vec<f64>,
    /// Baseline count per bin.
    pub baseline: Vec<f64>,
    /// Canary count per bin.
    pub canary: Vec<f64>,
}

impl BinnedPair {
    /// One bin per distinct value of either arm. NaN and infinite samples are dropped; −0 and
    /// +0 are the same value. Sorts each arm once: O(n log n) (radix sort for large arms).
    pub fn from_samples(baseline: &[f64], canary: &[f64]) -> BinnedPair {
        let (baseline_sorted, canary_sorted) = sort_both_arms(baseline, canary);
        let mut pair = BinnedPair {
            values: Vec::new(),
            baseline: Vec::new(),
            canary: Vec::new(),
        };
        merge_sorted_runs(&baseline_sorted, &canary_sorted, |value, b, c| {
            pair.values.push(value);
            pair.baseline.push(b);
            pair.canary.push(c);
        });
        pair
    }

    /// A pair from histogram counts, validated: equal lengths, finite strictly increasing
    /// values, finite non-negative counts.
    pub fn from_counts(
        values: Vec<f64>,
        baseline: Vec<f64>,
        canary: Vec<f64>,
    ) -> Result<BinnedPair, HistogramError> {
        if values.len() != baseline.len() || values.len() != canary.len() {
            return Err(HistogramError::LengthMismatch {
                values: values.len(),
                baseline: baseline.len(),
                canary: canary.len(),
            });
        }
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(HistogramError::NotIncreasing { index });
        }
        // Values are finite here, so `>=` is the negation of `<`.
        for (index, window) in values.windows(2).enumerate() {
            if window[0] >= window[1] {
                return Err(HistogramError::NotIncreasing { index: index + 1 });
            }
        }
        for counts in [&baseline, &canary] {
            if let Some(index) = counts.iter().position(|c| !(c.is_finite() && *c >= 0.0)) {
                return Err(HistogramError::InvalidCount {
                    index,
                    count: counts[index],
                });
            }
        }
        Ok(BinnedPair {
            values,
            baseline,
            canary,
        })
    }

    /// A pair over a log bucket scheme: bin values are the buckets' representatives.
    pub fn from_log_buckets(
        buckets: &LogBuckets,
        baseline: Vec<f64>,
        canary: Vec<f64>,
    ) -> Result<BinnedPair, HistogramError> {
        BinnedPair::from_counts(buckets.values(), baseline, canary)
    }

    /// Number of bins.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Baseline observations n_B.
    pub fn n_baseline(&self) -> f64 {
        self.baseline.iter().sum()
    }

    /// Canary observations n_C.
    pub fn n_canary(&self) -> f64 {
        self.canary.iter().sum()
    }

    /// The same pair with the arms exchanged.
    pub fn swapped(&self) -> BinnedPair {
        BinnedPair {
            values: self.values.clone(),
            baseline: self.canary.clone(),
            canary: self.baseline.clone(),
        }
    }

    /// Every value moved by `delta` (both arms). Order is kept unless rounding merges two
    /// values, in which case their bins are merged.
    pub fn shifted(&self, delta: f64) -> BinnedPair {
        self.mapped(|v| v + delta)
    }

    /// Every value multiplied by `factor` (> 0; both arms).
    pub fn scaled(&self, factor: f64) -> BinnedPair {
        self.mapped(|v| v * factor)
    }

    /// Only the canary moved by `delta`: the alternative hypothesis of a location shift.
    pub fn canary_shifted(&self, delta: f64) -> BinnedPair {
        let mut baseline = Vec::new();
        let mut canary = Vec::new();
        for ((value, b), c) in self.values.iter().zip(&self.baseline).zip(&self.canary) {
            if *b > 0.0 {
                baseline.push((*value, *b));
            }
            if *c > 0.0 {
                canary.push((value + delta, *c));
            }
        }
        let mut pair = BinnedPair {
            values: Vec::new(),
            baseline: Vec::new(),
            canary: Vec::new(),
        };
        merge_weighted(&baseline, &canary, &mut pair);
        pair
    }

    fn mapped(&self, map: impl Fn(f64) -> f64) -> BinnedPair {
        let mut pair = BinnedPair {
            values: Vec::with_capacity(self.len()),
            baseline: Vec::with_capacity(self.len()),
            canary: Vec::with_capacity(self.len()),
        };
        for ((value, b), c) in self.values.iter().zip(&self.baseline).zip(&self.canary) {
            let mapped = map(*value) + 0.0;
            match pair.values.last() {
                Some(last) if *last >= mapped => {
                    let end = pair.values.len() - 1;
                    pair.baseline[end] += b;
                    pair.canary[end] += c;
                }
                _ => {
                    pair.values.push(mapped);
                    pair.baseline.push(*b);
                    pair.canary.push(*c);
                }
            }
        }
        pair
    }
}

/// Merges two value-sorted weighted lists into bins (used by [`BinnedPair::canary_shifted`]).
fn merge_weighted(baseline: &[(f64, f64)], canary: &[(f64, f64)], pair: &mut BinnedPair) {
    let (mut i, mut j) = (0, 0);
    while i < baseline.len() || j < canary.len() {
        let next = match (baseline.get(i), canary.get(j)) {
            (Some(b), Some(c)) => b.0.min(c.0),
            (Some(b), None) => b.0,
            (None, Some(c)) => c.0,
            (None, None) => break,
        };
        let mut b_count = 0.0;
        let mut c_count = 0.0;
        while i < baseline.len() && baseline[i].0 == next {
            b_count += baseline[i].1;
            i += 1;
        }
        while j < canary.len() && canary[j].0 == next {
            c_count += canary[j].1;
            j += 1;
        }
        pair.values.push(next);
        pair.baseline.push(b_count);
        pair.canary.push(c_count);
    }
}

/// Sorted order keys ([`order_key`]) of both arms' finite samples; large arms are sorted on
/// two threads.
pub(crate) fn sort_both_arms(baseline: &[f64], canary: &[f64]) -> (Vec<u64>, Vec<u64>) {
    const PARALLEL_FROM: usize = 1 << 16;
    if baseline.len() + canary.len() >= PARALLEL_FROM {
        std::thread::scope(|scope| {
            let canary_job = scope.spawn(|| sorted_keys(canary));
            let baseline_sorted = sorted_keys(baseline);
            // A sort cannot panic, so the join only fails if the thread could not run; sort
            // here instead of giving up.
            let canary_sorted = canary_job.join().unwrap_or_else(|_| sorted_keys(canary));
            (baseline_sorted, canary_sorted)
        })
    } else {
        (sorted_keys(baseline), sorted_keys(canary))
    }
}

/// Finite samples in increasing order (−0 normalised to +0).
pub(crate) fn sorted_finite(samples: &[f64]) -> Vec<f64> {
    sorted_keys(samples)
        .into_iter()
        .map(from_order_key)
        .collect()
}

/// Order keys of the finite samples, sorted. Keys compare like the values and are equal
/// exactly when the values are (−0 is normalised to +0 first), so runs of equal keys are the
/// tie groups.
fn sorted_keys(samples: &[f64]) -> Vec<u64> {
    const RADIX_FROM: usize = 4096;
    let mut keys: Vec<u64> = samples
        .iter()
        .filter(|v| v.is_finite())
        .map(|v| order_key(v + 0.0))
        .collect();
    if keys.len() < RADIX_FROM {
        keys.sort_unstable();
    } else {
        radix_sort_u64(&mut keys);
    }
    keys
}

/// Maps an f64 to a u64 whose unsigned order is the numeric order (for finite values).
pub(crate) fn order_key(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Inverse of [`order_key`].
pub(crate) fn from_order_key(key: u64) -> f64 {
    if key >> 63 == 1 {
        f64::from_bits(key & !(1 << 63))
    } else {
        f64::from_bits(!key)
    }
}

const RADIX_BITS: u32 = 11;
const RADIX_PASSES: usize = 6; // ⌈64/11⌉
const RADIX_SIZE: usize = 1 << RADIX_BITS;

/// LSD radix sort, 11 bits a pass (2,048-entry histograms stay in cache); passes whose digit
/// is the same for every key are skipped (latencies share their sign and top exponent bits).
fn radix_sort_u64(keys: &mut Vec<u64>) {
    let digit =
        |key: u64, pass: usize| ((key >> (RADIX_BITS as usize * pass)) as usize) & (RADIX_SIZE - 1);
    let mut histograms = vec![[0usize; RADIX_SIZE]; RADIX_PASSES];
    for key in keys.iter() {
        for (pass, histogram) in histograms.iter_mut().enumerate() {
            histogram[digit(*key, pass)] += 1;
        }
    }
    let mut scratch = vec![0u64; keys.len()];
    for (pass, histogram) in histograms.iter().enumerate() {
        if histogram.contains(&keys.len()) {
            continue;
        }
        let mut offsets = [0usize; RADIX_SIZE];
        let mut running = 0;
        for (offset, count) in offsets.iter_mut().zip(histogram) {
            *offset = running;
            running += count;
        }
        for key in keys.iter() {
            let slot = &mut offsets[digit(*key, pass)];
            scratch[*slot] = *key;
            *slot += 1;
        }
        std::mem::swap(keys, &mut scratch);
    }
}

/// Walks two sorted key lists together and calls `bin(value, baseline_count, canary_count)`
/// once per distinct value, in increasing order.
pub(crate) fn merge_sorted_runs(
    baseline: &[u64],
    canary: &[u64],
    mut bin: impl FnMut(f64, f64, f64),
) {
    let (mut i, mut j) = (0, 0);
    while i < baseline.len() || j < canary.len() {
        let next = match (baseline.get(i), canary.get(j)) {
            (Some(b), Some(c)) => *b.min(c),
            (Some(b), None) => *b,
            (None, Some(c)) => *c,
            (None, None) => break,
        };
        let start_i = i;
        while i < baseline.len() && baseline[i] == next {
            i += 1;
        }
        let start_j = j;
        while j < canary.len() && canary[j] == next {
            j += 1;
        }
        bin(
            from_order_key(next),
            (i - start_i) as f64,
            (j - start_j) as f64,
        );
    }
}

/// Raw latencies in an HDR histogram (microsecond resolution, 3 significant digits).
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    histogram: hdrhistogram::Histogram<u64>,
}

impl LatencyHistogram {
    /// An auto-resizing histogram keeping `significant_digits` (0–5) of precision.
    pub fn new(significant_digits: u8) -> Result<LatencyHistogram, HistogramError> {
        let histogram = hdrhistogram::Histogram::<u64>::new(significant_digits)
            .map_err(|error| HistogramError::Hdr(format!("{error:?}")))?;
        Ok(LatencyHistogram { histogram })
    }

    /// Records a latency in ms (rounded to whole µs; negative and NaN are refused).
    pub fn record_ms(&mut self, value_ms: f64) -> Result<(), HistogramError> {
        if !(value_ms.is_finite() && value_ms >= 0.0) {
            return Err(HistogramError::InvalidLatency(value_ms));
        }
        let micros = (value_ms * 1000.0).round() as u64;
        self.histogram
            .record(micros)
            .map_err(|error| HistogramError::Hdr(format!("{error:?}")))
    }

    /// Number of recorded latencies.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The `q`-quantile in ms (HDR's value at quantile, within its precision); None if empty.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.histogram.is_empty() || !(0.0..=1.0).contains(&q) {
            return None;
        }
        Some(self.histogram.value_at_quantile(q) as f64 / 1000.0)
    }

    /// Counts per bucket of `buckets`, each HDR bin placed by its median-equivalent value (an
    /// HDR bin straddling a bucket edge goes wholly to one side: a resolution of 0.1% at 3
    /// significant digits).
    pub fn to_log_buckets(&self, buckets: &LogBuckets) -> Vec<f64> {
        let mut counts = vec![0.0; buckets.len()];
        for bin in self.histogram.iter_recorded() {
            let micros = self.histogram.median_equivalent(bin.value_iterated_to());
            counts[buckets.index_of(micros as f64 / 1000.0)] += bin.count_at_value() as f64;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_buckets_clamp_and_edges() {
        let buckets = LogBuckets::new(1.0, 2.0, 4).expect("valid scheme");
        assert_eq!(buckets.index_of(0.5), 0);
        assert_eq!(buckets.index_of(-3.0), 0);
        assert_eq!(buckets.index_of(1.0), 0);
        assert_eq!(buckets.index_of(2.0), 1);
        assert_eq!(buckets.index_of(7.9), 2);
        assert_eq!(buckets.index_of(1e9), 3);
        assert_eq!(buckets.lower_edge(2), 4.0);
        assert_eq!(buckets.upper_edge(2), 8.0);
        assert!(buckets.value_of(1) > 2.0 && buckets.value_of(1) < 4.0);
        assert!(LogBuckets::new(0.0, 2.0, 4).is_err());
        assert!(LogBuckets::new(1.0, 1.0, 4).is_err());
        assert!(LogBuckets::new(1.0, 2.0, 0).is_err());
    }

    #[test]
    fn kql_expression_mentions_the_scheme() {
        let buckets = LogBuckets::new(0.5, 1.1, 200).expect("valid scheme");
        let expr = buckets.kql_bucket_expr("TotalDurationMs");
        assert!(expr.contains("log(todouble(TotalDurationMs) / 0.5)"));
        assert!(expr.contains("log(1.1)"));
        assert!(expr.contains("199"));
        assert_eq!(kql_real(2.0), "2.0");
    }

    #[test]
    fn from_samples_bins_distinct_values() {
        let pair = BinnedPair::from_samples(&[3.0, 1.0, 1.0, f64::NAN], &[2.0, 3.0, -0.0, 0.0]);
        assert_eq!(pair.values, vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(pair.baseline, vec![0.0, 2.0, 0.0, 1.0]);
        assert_eq!(pair.canary, vec![2.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn radix_path_sorts_like_comparison_sort() {
        let samples: Vec<f64> = (0..10_000)
            .map(|i| ((i * 7919) % 10_007) as f64 * if i % 3 == 0 { -0.37 } else { 1.3 })
            .collect();
        let mut expected = samples.clone();
        expected.sort_by(f64::total_cmp);
        assert_eq!(sorted_finite(&samples), expected);
    }

    #[test]
    fn from_counts_validates() {
        assert!(BinnedPair::from_counts(vec![1.0, 2.0], vec![1.0], vec![1.0, 1.0]).is_err());
        assert!(BinnedPair::from_counts(vec![2.0, 1.0], vec![1.0; 2], vec![1.0; 2]).is_err());
        assert!(BinnedPair::from_counts(vec![1.0, 2.0], vec![-1.0, 1.0], vec![1.0; 2]).is_err());
        assert!(BinnedPair::from_counts(vec![1.0, 2.0], vec![1.0; 2], vec![1.0; 2]).is_ok());
    }

    #[test]
    fn hdr_histogram_buckets_all_samples() {
        let mut histogram = LatencyHistogram::new(3).expect("valid precision");
        for value in [0.5, 1.5, 3.0, 3.1, 250.0] {
            histogram.record_ms(value).expect("recordable");
        }
        let buckets = LogBuckets::new(1.0, 2.0, 10).expect("valid scheme");
        let counts = histogram.to_log_buckets(&buckets);
        assert_eq!(counts.iter().sum::<f64>(), 5.0);
        assert_eq!(counts[0], 2.0);
        assert_eq!(counts[1], 2.0);
        assert_eq!(histogram.count(), 5);
        let median = histogram.quantile_ms(0.5).expect("non-empty");
        assert!((median - 3.0).abs() < 0.01);
    }
}
