//! Traffic generation: a scenario's distributions turned into bucket probabilities over the
//! daemon's own bucket scheme, and one interval's [`Observation`] drawn from them.
//!
//! Latency counts are multinomial over the bucket probabilities (computed from the
//! distribution's CDF at the bucket edges, so the simulator bins exactly as the KQL query
//! does). A draw of n requests uses inverse-CDF lookup (n binary searches) when n is small and
//! conditional binomials bucket by bucket when n ≥ the number of non-empty buckets, whichever
//! is cheaper.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand_distr::{Binomial, Distribution, Poisson};

use super::scenario::{ErrorRates, LatencySpec, RateSpec, Scenario};
use crate::judge::binomial::standard_normal_quantile;
use crate::judge::histogram::LogBuckets;
use crate::judge::mann_whitney::normal_sf;
use crate::judge::observation::ArmObservation;

/// Standard normal CDF.
fn normal_cdf(z: f64) -> f64 {
    normal_sf(-z)
}

/// The CDF of a base latency distribution (milliseconds).
#[derive(Debug, Clone)]
pub struct BaseDistribution {
    spec: LatencySpec,
    /// Start of the Pareto tail (heavy tail only).
    tail_start_ms: f64,
}

impl BaseDistribution {
    pub fn new(spec: &LatencySpec) -> Self {
        let tail_start_ms = match spec {
            LatencySpec::HeavyTail {
                median_ms,
                sigma,
                tail_fraction,
                ..
            } => median_ms * (sigma * standard_normal_quantile(1.0 - tail_fraction)).exp(),
            _ => f64::INFINITY,
        };
        BaseDistribution {
            spec: spec.clone(),
            tail_start_ms,
        }
    }

    /// P(latency ≤ x).
    pub fn cdf(&self, x: f64) -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        let lognormal = |median: f64, sigma: f64| normal_cdf((x / median).ln() / sigma);
        match &self.spec {
            LatencySpec::Lognormal { median_ms, sigma } => lognormal(*median_ms, *sigma),
            LatencySpec::HeavyTail {
                median_ms,
                sigma,
                tail_fraction,
                tail_index,
            } => {
                let pareto = if x < self.tail_start_ms {
                    0.0
                } else {
                    1.0 - (self.tail_start_ms / x).powf(*tail_index)
                };
                (1.0 - tail_fraction) * lognormal(*median_ms, *sigma) + tail_fraction * pareto
            }
            LatencySpec::Bimodal { components } => {
                let total: f64 = components.iter().map(|c| c.weight).sum();
                components
                    .iter()
                    .map(|c| c.weight * lognormal(c.median_ms, c.sigma))
                    .sum::<f64>()
                    / total
            }
        }
    }

    /// The q-quantile, by bisection on ln x (the CDF is continuous and increasing).
    pub fn quantile(&self, q: f64) -> f64 {
        let (mut low, mut high) = (1e-6_f64.ln(), 1e9_f64.ln());
        for _ in 0..200 {
            let mid = 0.5 * (low + high);
            if self.cdf(mid.exp()) < q {
                low = mid;
            } else {
                high = mid;
            }
        }
        (0.5 * (low + high)).exp()
    }
}

/// A latency distribution derived from a base one: Y = scale · T(X), where T multiplies values
/// above `tail_threshold_ms` by `tail_multiplier` (a tail-only change).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    pub scale: f64,
    pub tail_threshold_ms: f64,
    pub tail_multiplier: f64,
}

impl Transform {
    pub const IDENTITY: Transform = Transform {
        scale: 1.0,
        tail_threshold_ms: f64::INFINITY,
        tail_multiplier: 1.0,
    };

    /// P(Y ≤ y) in terms of the base CDF: F(T⁻¹(y / scale)).
    pub fn cdf(&self, base: &BaseDistribution, y: f64) -> f64 {
        let z = y / self.scale;
        let t = self.tail_threshold_ms;
        let x = if z <= t {
            z
        } else if z < t * self.tail_multiplier {
            t
        } else {
            z / self.tail_multiplier
        };
        base.cdf(x)
    }
}

/// Probabilities of each bucket, with the cumulative sums used for sampling.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketProbabilities {
    pub probabilities: Vec<f64>,
    /// cumulative[i] = Σ_{j ≤ i} p_j (the last is 1).
    cumulative: Vec<f64>,
    /// First and one past the last bucket with non-negligible probability.
    support: (usize, usize),
}

impl BucketProbabilities {
    /// Bucket probabilities of `transform` applied to `base`, over `buckets` (bucket 0 absorbs
    /// everything below its upper edge, the last everything above its lower edge).
    pub fn new(buckets: &LogBuckets, base: &BaseDistribution, transform: Transform) -> Self {
        let count = buckets.len();
        let mut cumulative = Vec::with_capacity(count);
        for i in 0..count {
            let c = if i + 1 == count {
                1.0
            } else {
                transform.cdf(base, buckets.upper_edge(i))
            };
            cumulative.push(c.clamp(0.0, 1.0));
        }
        // Monotone despite rounding.
        for i in 1..count {
            if cumulative[i] < cumulative[i - 1] {
                cumulative[i] = cumulative[i - 1];
            }
        }
        let probabilities: Vec<f64> = (0..count)
            .map(|i| cumulative[i] - if i == 0 { 0.0 } else { cumulative[i - 1] })
            .collect();
        const NEGLIGIBLE: f64 = 1e-15;
        let first = probabilities
            .iter()
            .position(|p| *p > NEGLIGIBLE)
            .unwrap_or(0);
        let end = probabilities
            .iter()
            .rposition(|p| *p > NEGLIGIBLE)
            .map_or(count, |i| i + 1);
        BucketProbabilities {
            probabilities,
            cumulative,
            support: (first, end),
        }
    }

    /// Adds a multinomial draw of `n` requests to `counts`.
    pub fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, n: u64, counts: &mut [f64]) {
        let (first, end) = self.support;
        let width = (end - first) as u64;
        if n < width {
            // Inverse-CDF lookup: n binary searches over the cumulative sums.
            for _ in 0..n {
                let u: f64 = rng.random();
                let index = self.cumulative[first..end].partition_point(|c| *c <= u) + first;
                counts[index.min(end - 1)] += 1.0;
            }
        } else {
            // Conditional binomials: bucket i gets Bin(remaining, p_i / remaining mass).
            let mut remaining = n;
            let mut mass = 1.0
                - if first == 0 {
                    0.0
                } else {
                    self.cumulative[first - 1]
                };
            let last = end - 1;
            for (i, (count, p)) in counts[first..end]
                .iter_mut()
                .zip(&self.probabilities[first..end])
                .enumerate()
            {
                if remaining == 0 {
                    break;
                }
                let p = *p;
                let k = if first + i == last || p >= mass {
                    remaining
                } else {
                    binomial(rng, remaining, p / mass)
                };
                *count += k as f64;
                remaining -= k;
                mass -= p;
            }
        }
    }
}

/// One Bin(n, p) draw.
pub fn binomial<R: Rng + ?Sized>(rng: &mut R, n: u64, p: f64) -> u64 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    Binomial::new(n, p).map_or(0, |b| b.sample(rng))
}

/// One Poisson(mean) draw.
pub fn poisson<R: Rng + ?Sized>(rng: &mut R, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    Poisson::new(mean).map_or(0, |d| d.sample(rng) as u64)
}

/// Requests per second at `elapsed` since the rollout started; `phase` ∈ [0, 1) places the
/// start in the diurnal cycle, `burst` says whether this interval is a burst.
pub fn rate_at(rate: &RateSpec, elapsed: Duration, phase: f64, burst: bool) -> f64 {
    match rate {
        RateSpec::Steady { rps } => *rps,
        RateSpec::Diurnal {
            rps,
            amplitude,
            period,
        } => {
            let cycle = elapsed.as_secs_f64() / period.as_secs_f64() + phase;
            rps * (1.0 + amplitude * (std::f64::consts::TAU * cycle).sin())
        }
        RateSpec::Bursty {
            rps, multiplier, ..
        } => {
            if burst {
                rps * multiplier
            } else {
                *rps
            }
        }
    }
}

/// Both arms' latency bucket probabilities and error rates at one interval.
#[derive(Debug, Clone)]
pub struct IntervalModel {
    pub baseline: Arc<BucketProbabilities>,
    pub canary: Arc<BucketProbabilities>,
    pub baseline_errors: ErrorRates,
    pub canary_errors: ErrorRates,
    /// Whether the canary differs from the baseline in this interval.
    pub after_onset: bool,
    /// The oracle's per-bucket ln(P_H1 / P_H0) for a canary request, and its error rates
    /// under H1 (the true canary's, or on a scenario to promote the stated alternative).
    pub oracle_log_ratio: Arc<Vec<f64>>,
    pub oracle_errors: ErrorRates,
    /// The oracle's error rates under H0: the baseline's, or on a scenario to promote the
    /// canary's true ones.
    pub oracle_null_errors: ErrorRates,
}

/// A scenario's distributions per interval index (interval k covers
/// `[k·interval, (k+1)·interval)` after the rollout's start), computed once and shared by every
/// run. Intervals with the same drift share the same probabilities.
#[derive(Debug, Clone)]
pub struct ScenarioModel {
    pub base: BaseDistribution,
    pub intervals: Vec<IntervalModel>,
    pub interval: Duration,
    /// The canary's latency transform after onset (without drift).
    pub canary_transform: Transform,
}

impl ScenarioModel {
    /// Models `count` intervals of `interval` each.
    pub fn new(
        scenario: &Scenario,
        buckets: &LogBuckets,
        interval: Duration,
        count: usize,
    ) -> Self {
        let base = BaseDistribution::new(&scenario.latency);
        let tail = scenario.canary.tail;
        let canary_transform = Transform {
            scale: scenario.canary.latency_multiplier,
            tail_threshold_ms: tail.map_or(f64::INFINITY, |t| base.quantile(t.above_quantile)),
            tail_multiplier: tail.map_or(1.0, |t| t.multiplier),
        };
        let onset = scenario.canary.onset;
        let mut intervals: Vec<IntervalModel> = Vec::with_capacity(count);
        // On a scenario to promote, the oracle's H0 is the canary as it truly is (on A/A, the
        // baseline) and its H1 that canary changed by the stated alternative; otherwise H0 is
        // the baseline and H1 the true canary.
        let alternative = scenario
            .oracle_alternative
            .filter(|_| scenario.is_acceptable());
        let oracle_transform = alternative.map_or(canary_transform, |alt| Transform {
            scale: canary_transform.scale * alt.latency_multiplier,
            ..canary_transform
        });
        let oracle_null_errors = match alternative {
            Some(_) => scenario.canary_errors(),
            None => scenario.errors,
        };
        let oracle_errors = match alternative {
            Some(alt) => ErrorRates {
                model: (oracle_null_errors.model * alt.error_ratio).min(0.5),
                ..oracle_null_errors
            },
            None => scenario.canary_errors(),
        };
        let no_evidence = Arc::new(vec![0.0; buckets.len()]);
        type Cached = (
            f64,
            Arc<BucketProbabilities>,
            Arc<BucketProbabilities>,
            Arc<Vec<f64>>,
        );
        let mut last: Option<Cached> = None;
        for k in 0..count {
            // Drift evaluated at the middle of the interval.
            let middle = interval.mul_f64(k as f64 + 0.5);
            let drift = scenario.drift.map_or(1.0, |d| {
                let progress = (middle.as_secs_f64() / d.over.as_secs_f64()).min(1.0);
                1.0 + (d.latency_multiplier - 1.0) * progress
            });
            let (baseline, canary, log_ratio) = match &last {
                Some((d, b, c, r)) if *d == drift => (b.clone(), c.clone(), r.clone()),
                _ => {
                    let scaled = |t: Transform| Transform {
                        scale: t.scale * drift,
                        tail_threshold_ms: t.tail_threshold_ms,
                        tail_multiplier: t.tail_multiplier,
                    };
                    let b = Arc::new(BucketProbabilities::new(
                        buckets,
                        &base,
                        scaled(Transform::IDENTITY),
                    ));
                    let c = if canary_transform == Transform::IDENTITY {
                        b.clone()
                    } else {
                        Arc::new(BucketProbabilities::new(
                            buckets,
                            &base,
                            scaled(canary_transform),
                        ))
                    };
                    let h1 = BucketProbabilities::new(buckets, &base, scaled(oracle_transform));
                    let floor = |p: f64| p.max(1e-300).ln();
                    let null = if alternative.is_some() { &c } else { &b };
                    let r: Arc<Vec<f64>> = Arc::new(
                        h1.probabilities
                            .iter()
                            .zip(&null.probabilities)
                            .map(|(p1, p0)| floor(*p1) - floor(*p0))
                            .collect(),
                    );
                    last = Some((drift, b.clone(), c.clone(), r.clone()));
                    (b, c, r)
                }
            };
            // An interval counts as after onset once it starts at or after the onset.
            let after_onset = interval.mul_f64(k as f64) >= onset;
            intervals.push(IntervalModel {
                canary: if after_onset {
                    canary
                } else {
                    baseline.clone()
                },
                baseline,
                baseline_errors: scenario.errors,
                canary_errors: if after_onset {
                    scenario.canary_errors()
                } else {
                    scenario.errors
                },
                after_onset,
                oracle_log_ratio: if after_onset || alternative.is_some() {
                    log_ratio
                } else {
                    no_evidence.clone()
                },
                oracle_errors: if after_onset || alternative.is_some() {
                    oracle_errors
                } else {
                    scenario.errors
                },
                oracle_null_errors,
            });
        }
        ScenarioModel {
            base,
            intervals,
            interval,
            canary_transform,
        }
    }

    /// The model of interval `k` (the last one repeats past the end).
    pub fn at(&self, k: usize) -> &IntervalModel {
        &self.intervals[k.min(self.intervals.len() - 1)]
    }
}

/// One arm's counts for `n` requests.
pub fn draw_arm<R: Rng + ?Sized>(
    rng: &mut R,
    n: u64,
    latency: &BucketProbabilities,
    errors: &ErrorRates,
) -> ArmObservation {
    let mut counts = vec![0.0; latency.probabilities.len()];
    latency.sample_into(rng, n, &mut counts);
    // Each request has at most one error kind: sequential conditional binomials.
    let model_errors = binomial(rng, n, errors.model);
    let rest = n - model_errors;
    let left = 1.0 - errors.model;
    let errors_5xx = binomial(rng, rest, errors.gateway_5xx / left);
    let throttled = binomial(
        rng,
        rest - errors_5xx,
        errors.throttled / (left - errors.gateway_5xx),
    );
    ArmObservation {
        latency: counts,
        requests: n,
        errors_5xx,
        model_errors,
        throttled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::default_buckets;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn bucket_probabilities_sum_to_one_and_follow_the_cdf() {
        let buckets = default_buckets();
        let base = BaseDistribution::new(&LatencySpec::Lognormal {
            median_ms: 100.0,
            sigma: 0.5,
        });
        assert!((base.quantile(0.5) - 100.0).abs() < 1e-6);
        let probs = BucketProbabilities::new(&buckets, &base, Transform::IDENTITY);
        let total: f64 = probs.probabilities.iter().sum();
        assert!((total - 1.0).abs() < 1e-12);
        // Mass below 100 ms is one half, up to the bucket holding 100 ms.
        let below: f64 = probs.probabilities[..buckets.index_of(100.0)].iter().sum();
        assert!((0.49..=0.5).contains(&below), "{below}");
    }

    #[test]
    fn both_samplers_draw_the_same_distribution() {
        let buckets = default_buckets();
        let base = BaseDistribution::new(&LatencySpec::Lognormal {
            median_ms: 100.0,
            sigma: 0.5,
        });
        let probs = BucketProbabilities::new(&buckets, &base, Transform::IDENTITY);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let median_bucket = buckets.index_of(100.0);
        // 4,000 draws of 10 requests (lookup) and 4 draws of 10,000 (conditional binomials):
        // the share below the median bucket is 0.5 − ε; binomial sd over 40,000 is 0.0025.
        for (draws, n) in [(4_000, 10), (4, 10_000)] {
            let mut counts = vec![0.0; buckets.len()];
            for _ in 0..draws {
                probs.sample_into(&mut rng, n, &mut counts);
            }
            let total: f64 = counts.iter().sum();
            assert_eq!(total, (draws * n) as f64);
            let share = counts[..median_bucket].iter().sum::<f64>() / total;
            assert!((share - 0.495).abs() < 0.015, "n = {n}: {share}");
        }
    }

    #[test]
    fn tail_change_moves_only_the_tail() {
        let base = BaseDistribution::new(&LatencySpec::Lognormal {
            median_ms: 100.0,
            sigma: 0.5,
        });
        let threshold = base.quantile(0.95);
        let tail = Transform {
            scale: 1.0,
            tail_threshold_ms: threshold,
            tail_multiplier: 2.0,
        };
        assert_eq!(tail.cdf(&base, 100.0), base.cdf(100.0));
        assert!((tail.cdf(&base, threshold * 1.5) - 0.95).abs() < 1e-9);
        assert!((tail.cdf(&base, base.quantile(0.99) * 2.0) - 0.99).abs() < 1e-6);
    }
}
