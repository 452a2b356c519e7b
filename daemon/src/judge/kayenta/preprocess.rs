//! Kayenta's per-arm transforms: missing points, then IQR outlier removal; and the
//! descriptive statistics its effect sizes use.

use super::config::{NanStrategy, OutlierStrategy};

/// Applies the NaN strategy, then the outlier strategy, to one arm (Kayenta transforms each
/// arm on its own). Returns the kept values and how many outliers were dropped.
pub fn transform(
    values: &[f64],
    nan_strategy: NanStrategy,
    outliers: OutlierStrategy,
    outlier_factor: f64,
) -> (Vec<f64>, usize) {
    let cleaned: Vec<f64> = match nan_strategy {
        NanStrategy::Remove => values.iter().copied().filter(|v| !v.is_nan()).collect(),
        NanStrategy::Replace => values
            .iter()
            .map(|v| if v.is_nan() { 0.0 } else { *v })
            .collect(),
    };
    // -0.0 and 0.0 are one value to a metric; keeping both would split a tie group.
    let cleaned: Vec<f64> = cleaned
        .into_iter()
        .map(|v| if v == 0.0 { 0.0 } else { v })
        .collect();
    match outliers {
        OutlierStrategy::Keep => (cleaned, 0),
        OutlierStrategy::Remove => {
            let (lower, upper) = outlier_fences(&cleaned, outlier_factor);
            let before = cleaned.len();
            let kept: Vec<f64> = cleaned
                .into_iter()
                .filter(|v| !is_outlier(*v, lower, upper))
                .collect();
            let removed = before - kept.len();
            (kept, removed)
        }
    }
}

/// Outside the fences. NaN fences (empty arm) flag nothing, as in Kayenta.
fn is_outlier(value: f64, lower: f64, upper: f64) -> bool {
    value > upper || value < lower
}

/// Kayenta's IQR detector with reduced sensitivity (as the judge builds it): the fences are
/// Q1 − k·IQR and Q3 + k·IQR, widened to the 1st / 99th percentiles when those lie further
/// out. Quantiles are R-7. An empty arm gives NaN fences, which flag nothing.
pub fn outlier_fences(values: &[f64], factor: f64) -> (f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let q1 = percentile_r7(&sorted, 25.0);
    let q3 = percentile_r7(&sorted, 75.0);
    let iqr = q3 - q1;
    let lower_iqr = q1 - factor * iqr;
    let upper_iqr = q3 + factor * iqr;
    let p01 = percentile_r7(&sorted, 1.0);
    let p99 = percentile_r7(&sorted, 99.0);
    (p01.min(lower_iqr), p99.max(upper_iqr))
}

/// Plain Tukey fences (no widening), as Kayenta's detector without reduced sensitivity.
pub fn tukey_fences(values: &[f64], factor: f64) -> (f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let q1 = percentile_r7(&sorted, 25.0);
    let q3 = percentile_r7(&sorted, 75.0);
    let iqr = q3 - q1;
    (q1 - factor * iqr, q3 + factor * iqr)
}

/// The `percent`-th percentile of ascending `sorted` by R's type 7 (commons-math
/// `Percentile` with `EstimationType.R_7`); NaN when empty.
pub fn percentile_r7(sorted: &[f64], percent: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    if n == 1 {
        return sorted[0];
    }
    let p = percent / 100.0;
    // 1-based position of the quantile.
    let position = if p == 1.0 {
        n as f64
    } else {
        1.0 + (n as f64 - 1.0) * p
    };
    if position < 1.0 {
        return sorted[0];
    }
    if position >= n as f64 {
        return sorted[n - 1];
    }
    let floor = position.floor();
    let index = floor as usize;
    let fraction = position - floor;
    let lower = sorted[index - 1];
    let upper = sorted[index];
    lower + fraction * (upper - lower)
}

/// Arithmetic mean with commons-math's one-step correction (`StatUtils.mean`), so ratios
/// agree with Kayenta's to the last bit. NaN when empty.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let n = values.len() as f64;
    let first_pass = values.iter().sum::<f64>() / n;
    let correction: f64 = values.iter().map(|v| v - first_pass).sum();
    first_pass + correction / n
}

/// Kayenta's `meanRatio`: canary mean / baseline mean, NaN when either mean is 0 (which
/// makes the classifier ignore the effect-size condition).
pub fn mean_ratio(canary: &[f64], baseline: &[f64]) -> f64 {
    let canary_mean = mean(canary);
    let baseline_mean = mean(baseline);
    if canary_mean == 0.0 || baseline_mean == 0.0 {
        f64::NAN
    } else {
        canary_mean / baseline_mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_r7_interpolates() {
        // Kayenta StatisticSuite "Basic Percentile".
        let data = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5];
        assert!((percentile_r7(&data, 5.0) - 0.175).abs() < 1e-4);
        assert_eq!(percentile_r7(&data, 50.0), 1.75);
        assert_eq!(percentile_r7(&data, 100.0), 3.5);
        let mut nist = [
            95.1772, 95.1567, 95.1937, 95.1959, 95.1442, 95.0610, 95.1591, 95.1195, 95.1772,
            95.0925, 95.1990, 95.1682,
        ];
        nist.sort_by(f64::total_cmp);
        assert!((percentile_r7(&nist, 90.0) - 95.19568).abs() < 1e-9);
        assert!(percentile_r7(&[], 50.0).is_nan());
    }

    #[test]
    fn tukey_fences_flag_kayenta_detector_cases() {
        // Kayenta DetectorSuite "IQR Detection" and "IQR Detect Two Sided" (factor 1.5).
        let data = [21.0, 23.0, 24.0, 25.0, 50.0, 29.0, 23.0, 21.0];
        let (lo, hi) = tukey_fences(&data, 1.5);
        let flagged: Vec<bool> = data.iter().map(|v| *v < lo || *v > hi).collect();
        assert_eq!(
            flagged,
            [false, false, false, false, true, false, false, false]
        );
        let data = [1.0, 1.0, 1.0, 5.0, -1.0, -1.0, -1.0, -5.0];
        let (lo, hi) = tukey_fences(&data, 1.5);
        let flagged: Vec<bool> = data.iter().map(|v| *v < lo || *v > hi).collect();
        assert_eq!(
            flagged,
            [false, false, false, true, false, false, false, true]
        );
    }

    #[test]
    fn reduced_sensitivity_widens_to_extreme_percentiles() {
        let data = [21.0, 23.0, 24.0, 25.0, 50.0, 29.0, 23.0, 21.0];
        let (lo, hi) = outlier_fences(&data, 1.5);
        let (tukey_lo, tukey_hi) = tukey_fences(&data, 1.5);
        assert!(lo <= tukey_lo && hi >= tukey_hi);
        // The 99th percentile of 8 points lies between 29 and 50, so 50 is still an outlier.
        assert!(hi < 50.0 && hi > 29.0);
    }

    #[test]
    fn nan_strategies() {
        let data = [f64::NAN, 10.1, 20.2, f64::NAN, 40.4];
        let (removed, _) = transform(&data, NanStrategy::Remove, OutlierStrategy::Keep, 3.0);
        assert_eq!(removed, vec![10.1, 20.2, 40.4]);
        let (replaced, _) = transform(&data, NanStrategy::Replace, OutlierStrategy::Keep, 3.0);
        assert_eq!(replaced, vec![0.0, 10.1, 20.2, 0.0, 40.4]);
    }

    #[test]
    fn mean_ratio_is_nan_on_zero_mean() {
        assert_eq!(mean_ratio(&[10.0; 5], &[1.0; 5]), 10.0);
        assert_eq!(mean_ratio(&[10.0; 5], &[100.0; 5]), 0.1);
        assert!(mean_ratio(&[10.0; 5], &[0.0; 5]).is_nan());
        assert!((mean(&[1.0, 1.0, 1.0, 10.0, 10.0, 10.0]) - 5.5).abs() < 1e-15);
    }
}
