//! Durations in policy files: `30s`, `5m`, `1h`, `1h30m`, `1d`, `250ms`, or ISO 8601 `PT5M`.
//!
//! A bare number is refused: `30` could mean seconds or minutes, and a rollout plan is not
//! the place to guess.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Parses a duration; the error says what is wrong (the caller adds the location).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Some(iso) = text.strip_prefix("PT").or_else(|| text.strip_prefix("pt")) {
        return parse_units(iso, &[("H", 3600.0), ("M", 60.0), ("S", 1.0)], text, true);
    }
    parse_units(
        text,
        &[
            ("ms", 0.001),
            ("d", 86_400.0),
            ("h", 3600.0),
            ("m", 60.0),
            ("s", 1.0),
        ],
        text,
        false,
    )
}

fn parse_units(
    mut rest: &str,
    units: &[(&str, f64)],
    whole: &str,
    case_insensitive: bool,
) -> Result<Duration, String> {
    let bad =
        || format!("'{whole}' is not a duration (write e.g. 30s, 5m, 1h30m, 1d or ISO 8601 PT5M)");
    let mut total = 0.0_f64;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| {
                if parts == 0 {
                    format!("'{whole}' has no unit (write e.g. {whole}s or {whole}m)")
                } else {
                    bad()
                }
            })?;
        if digits == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        let after = &rest[digits..];
        let (unit_len, factor) = units
            .iter()
            .find(|(unit, _)| {
                if case_insensitive {
                    after.to_ascii_uppercase().starts_with(unit)
                } else {
                    after.starts_with(unit)
                }
            })
            .map(|(unit, factor)| (unit.len(), *factor))
            .ok_or_else(bad)?;
        total += number * factor;
        rest = &after[unit_len..];
        parts += 1;
    }
    if !total.is_finite() || total > 1e12 {
        return Err(format!("'{whole}' is too long"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Formats a duration the way policies write it: `1h30m`, `5m`, `45s`, `250ms`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".into();
    }
    if millis % 1000 != 0 {
        return format!("{millis}ms");
    }
    let mut secs = duration.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// `#[serde(with = "duration::serde_duration")]` for `Duration` fields.
pub mod serde_duration {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(*value))
    }
}

/// `#[serde(with = "duration::serde_opt_duration")]` for `Option<Duration>` fields; `null`,
/// `none` and `never` mean no limit.
pub mod serde_opt_duration {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let value: Option<OptDuration> = Option::deserialize(deserializer)?;
        Ok(value.and_then(|v| v.0))
    }

    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.serialize_str(&format_duration(*d)),
            None => serializer.serialize_none(),
        }
    }

    struct OptDuration(Option<Duration>);

    impl<'de> Deserialize<'de> for OptDuration {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(OptVisitor)
        }
    }

    struct OptVisitor;

    impl<'de> serde::de::Visitor<'de> for OptVisitor {
        type Value = OptDuration;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a duration such as 30m, or `never`")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OptDuration, E> {
            if matches!(v.trim(), "none" | "never") {
                return Ok(OptDuration(None));
            }
            DurationVisitor.visit_str(v).map(|d| OptDuration(Some(d)))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<OptDuration, E> {
            DurationVisitor.visit_u64(v).map(|d| OptDuration(Some(d)))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<OptDuration, E> {
            DurationVisitor.visit_i64(v).map(|d| OptDuration(Some(d)))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<OptDuration, E> {
            DurationVisitor.visit_f64(v).map(|d| OptDuration(Some(d)))
        }
    }
}

struct DurationVisitor;

impl<'de> serde::de::Visitor<'de> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a duration such as 30s, 5m, 1h30m or PT5M")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "{v} has no unit (write e.g. {v}s or {v}m)"
        )))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "{v} has no unit (write e.g. {v}s or {v}m)"
        )))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "{v} has no unit (write e.g. {v}s or {v}m)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_and_iso() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("PT5M"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("PT1H30M15S"), Ok(Duration::from_secs(5415)));
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m5").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5m").is_err());
    }

    #[test]
    fn formats_back() {
        for text in ["1h30m", "5m", "45s", "250ms", "1d2h", "0s"] {
            let parsed = parse_duration(text).expect(text);
            assert_eq!(format_duration(parsed), text);
        }
    }
}
