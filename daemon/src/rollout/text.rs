//! Numbers and durations as the decision sentences print them.

use std::time::Duration;

use time::OffsetDateTime;

use crate::judge::{Outcome, Verdict};

/// `3412` → `3,412`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `45s`, `6m`, `6m30s`, `1h`, `1h05m`, `2d3h`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        if secs == 0 && d.subsec_millis() > 0 {
            return format!("{}ms", d.subsec_millis());
        }
        return format!("{secs}s");
    }
    if secs < 3600 {
        let (m, s) = (secs / 60, secs % 60);
        return if s == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{s:02}s")
        };
    }
    if secs < 86_400 {
        let (h, m) = (secs / 3600, (secs % 3600) / 60);
        return if m == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{m:02}m")
        };
    }
    let (d, h) = (secs / 86_400, (secs % 86_400) / 3600);
    if h == 0 {
        format!("{d}d")
    } else {
        format!("{d}d{h}h")
    }
}

/// Time from `since` to `now`, zero when `now` is earlier (a clock step backwards never counts
/// as progress, nor panics).
pub fn elapsed(now: OffsetDateTime, since: OffsetDateTime) -> Duration {
    let d = now - since;
    if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs()
    }
}

/// The judge's evidence in one clause: the failing checks for a regression, the checks still
/// open for an inconclusive verdict, the first check for a safe one.
pub fn evidence(verdict: &Verdict) -> String {
    let wanted: Vec<_> = match verdict.overall {
        Outcome::Regressed => verdict
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Regressed)
            .collect(),
        Outcome::Inconclusive | Outcome::NoData => verdict
            .checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Inconclusive | Outcome::NoData))
            .take(2)
            .collect(),
        Outcome::Safe => verdict.checks.iter().take(1).collect(),
    };
    if wanted.is_empty() {
        return verdict.summary.clone();
    }
    let mut text = wanted
        .iter()
        .map(|c| format!("{}: {}", c.name, c.reason.trim_end_matches('.')))
        .collect::<Vec<_>>()
        .join("; ");
    if verdict.overall == Outcome::Safe && verdict.checks.len() > 1 {
        text.push_str(&format!(" (all {} checks safe)", verdict.checks.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(3412), "3,412");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn durations_read_like_policy_files() {
        assert_eq!(duration(Duration::from_secs(45)), "45s");
        assert_eq!(duration(Duration::from_secs(360)), "6m");
        assert_eq!(duration(Duration::from_secs(390)), "6m30s");
        assert_eq!(duration(Duration::from_secs(3600)), "1h");
        assert_eq!(duration(Duration::from_secs(3900)), "1h05m");
        assert_eq!(duration(Duration::from_secs(2 * 86_400 + 3 * 3600)), "2d3h");
        assert_eq!(duration(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn elapsed_never_goes_negative() {
        let t = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(elapsed(t, t + Duration::from_secs(5)), Duration::ZERO);
        assert_eq!(
            elapsed(t + Duration::from_secs(5), t),
            Duration::from_secs(5)
        );
    }
}
