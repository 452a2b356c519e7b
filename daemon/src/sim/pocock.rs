//! Pocock's constant: the single critical value c such that K equally spaced looks at a
//! standardised statistic Z_k = S_k/√k (S_k a sum of k independent N(0, 1)) cross c with
//! probability α under the null (Pocock 1977; Jennison & Turnbull 2000, ch. 2).
//!
//! Computed by recursive numerical integration (Armitage, McPherson & Rowe 1969): the
//! sub-density of S_k on the continuation region is propagated look by look with Simpson's
//! rule, and the crossing probabilities summed; c is found by bisection.

use crate::judge::mann_whitney::normal_sf;

/// Whether the test rejects in one direction or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sides {
    One,
    Two,
}

/// Grid spacing of S_k; Simpson's error is O(h⁴), far below 1e-6 in α at this spacing.
const STEP: f64 = 0.05;
/// The one-sided continuation region is truncated this many standard deviations below 0.
const LOWER_SDS: f64 = 8.0;

fn density(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// A grid over [low, high] with an odd number of points and Simpson weights.
fn grid(low: f64, high: f64) -> (Vec<f64>, Vec<f64>) {
    let mut intervals = ((high - low) / STEP).ceil().max(2.0) as usize;
    if intervals % 2 == 1 {
        intervals += 1;
    }
    let h = (high - low) / intervals as f64;
    let points = (0..=intervals).map(|i| low + i as f64 * h).collect();
    let weights = (0..=intervals)
        .map(|i| {
            let w = if i == 0 || i == intervals {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            w * h / 3.0
        })
        .collect();
    (points, weights)
}

/// P(the boundary ±c√k is crossed at some look k ≤ looks) under the null.
pub fn crossing_probability(c: f64, looks: usize, sides: Sides) -> f64 {
    if looks == 0 {
        return 0.0;
    }
    let region = |k: usize| {
        let root = (k as f64).sqrt();
        let high = c * root;
        let low = match sides {
            Sides::Two => -high,
            Sides::One => -LOWER_SDS * root,
        };
        (low, high)
    };
    let crossing_at = |low: f64, high: f64, u: f64| {
        let upper = normal_sf(high - u);
        match sides {
            Sides::Two => upper + normal_sf(u - low),
            Sides::One => upper,
        }
    };
    // Look 1: S_1 ~ N(0, 1).
    let (low, high) = region(1);
    let mut total = crossing_at(low, high, 0.0);
    let (mut points, mut weights) = grid(low, high);
    let mut values: Vec<f64> = points.iter().map(|s| density(*s)).collect();
    for k in 2..=looks {
        let (low, high) = region(k);
        total += points
            .iter()
            .zip(&weights)
            .zip(&values)
            .map(|((u, w), f)| w * f * crossing_at(low, high, *u))
            .sum::<f64>();
        let (next_points, next_weights) = grid(low, high);
        let next_values = next_points
            .iter()
            .map(|s| {
                points
                    .iter()
                    .zip(&weights)
                    .zip(&values)
                    .map(|((u, w), f)| w * f * density(s - u))
                    .sum::<f64>()
            })
            .collect();
        points = next_points;
        weights = next_weights;
        values = next_values;
    }
    total
}

/// Pocock's constant for `looks` equally spaced looks at overall level `alpha`.
pub fn pocock_constant(looks: usize, alpha: f64, sides: Sides) -> f64 {
    let (mut low, mut high) = (0.0_f64, 8.0_f64);
    // 30 halvings of 8: below 1e-8, far inside the integration's accuracy.
    for _ in 0..30 {
        let mid = 0.5 * (low + high);
        if crossing_probability(mid, looks, sides) > alpha {
            low = mid;
        } else {
            high = mid;
        }
    }
    0.5 * (low + high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_look_is_the_fixed_sample_critical_value() {
        assert!((pocock_constant(1, 0.05, Sides::Two) - 1.959_964).abs() < 1e-4);
        assert!((pocock_constant(1, 0.05, Sides::One) - 1.644_854).abs() < 1e-4);
    }

    #[test]
    fn matches_published_constants() {
        // Jennison & Turnbull (2000), table 2.1: two-sided α = 0.05.
        for (looks, published) in [(2, 2.178), (5, 2.413), (10, 2.555)] {
            let c = pocock_constant(looks, 0.05, Sides::Two);
            assert!((c - published).abs() < 1e-3, "K = {looks}: {c}");
        }
        // One-sided at 0.025 is the same boundary (crossing both ways is negligible).
        let c = pocock_constant(5, 0.025, Sides::One);
        assert!((c - 2.413).abs() < 1e-3, "one-sided K = 5: {c}");
    }
}
