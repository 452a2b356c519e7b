//! Scalar types and values of the KQL subset, and their text forms.
//!
//! datetime and timespan are kept in Kusto's own unit, ticks of 100 ns (datetime counted from
//! the Unix epoch), so arithmetic and `bin()` are exact integer operations.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

pub const TICKS_PER_US: i64 = 10;
pub const TICKS_PER_MS: i64 = 10_000;
pub const TICKS_PER_SECOND: i64 = 10_000_000;
pub const TICKS_PER_MINUTE: i64 = 60 * TICKS_PER_SECOND;
pub const TICKS_PER_HOUR: i64 = 60 * TICKS_PER_MINUTE;
pub const TICKS_PER_DAY: i64 = 24 * TICKS_PER_HOUR;

/// A column or expression type, named as Kusto names it in query results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Int,
    Long,
    Real,
    String,
    DateTime,
    Timespan,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Long => "long",
            Type::Real => "real",
            Type::String => "string",
            Type::DateTime => "datetime",
            Type::Timespan => "timespan",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, Type::Int | Type::Long | Type::Real)
    }

    pub fn is_integer(self) -> bool {
        matches!(self, Type::Int | Type::Long)
    }
}

/// One scalar. `Null` is typed by the column or expression it belongs to.
#[derive(Debug, Clone, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Real(f64),
    /// Ticks (100 ns) since 1970-01-01T00:00:00Z.
    DateTime(i64),
    /// Ticks (100 ns).
    Timespan(i64),
    Str(Arc<str>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Null and false both reject a row in `where`.
    pub fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(f64::from(*v)),
            Value::Long(v) => Some(*v as f64),
            Value::Real(v) => Some(*v),
            _ => None,
        }
    }

    /// Integers, datetimes and timespans as one i64 (the unit of the value's own type).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(i64::from(*v)),
            Value::Long(v) | Value::DateTime(v) | Value::Timespan(v) => Some(*v),
            _ => None,
        }
    }

    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    /// The value as the JSON the Log Analytics API writes.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(v) => serde_json::Value::from(*v),
            Value::Long(v) => serde_json::Value::from(*v),
            // JSON has no NaN or infinity; Kusto writes them as strings.
            Value::Real(v) if v.is_nan() => serde_json::Value::from("NaN"),
            Value::Real(v) if v.is_infinite() && *v > 0.0 => serde_json::Value::from("Infinity"),
            Value::Real(v) if v.is_infinite() => serde_json::Value::from("-Infinity"),
            Value::Real(v) => serde_json::Value::from(*v),
            Value::DateTime(t) => serde_json::Value::from(format_datetime(*t)),
            Value::Timespan(t) => serde_json::Value::from(format_timespan(*t)),
            Value::Str(s) => serde_json::Value::from(&**s),
        }
    }

    /// `tostring()`'s rendering.
    pub fn to_display_string(&self) -> Option<String> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(b) => b.to_string(),
            Value::Int(v) => v.to_string(),
            Value::Long(v) => v.to_string(),
            Value::Real(v) => format_real(*v),
            Value::DateTime(t) => format_datetime(*t),
            Value::Timespan(t) => format_timespan(*t),
            Value::Str(s) => s.to_string(),
        })
    }
}

/// Serialises straight to the Log Analytics JSON form, so large results need no
/// intermediate `serde_json::Value` per cell.
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_none(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(v) => s.serialize_i32(*v),
            Value::Long(v) => s.serialize_i64(*v),
            Value::Real(v) if v.is_finite() => s.serialize_f64(*v),
            Value::Real(v) => s.serialize_str(&format_real(*v)),
            Value::DateTime(t) => s.serialize_str(&format_datetime(*t)),
            Value::Timespan(t) => s.serialize_str(&format_timespan(*t)),
            Value::Str(v) => s.serialize_str(v),
        }
    }
}

/// Group-by keys and `dcount()` need equality and hashing; reals compare by value with every
/// NaN equal to each other (so they group together) and -0.0 equal to 0.0.
impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Long(a), Value::Long(b)) => a == b,
            (Value::Real(a), Value::Real(b)) => canonical_bits(*a) == canonical_bits(*b),
            (Value::DateTime(a), Value::DateTime(b)) => a == b,
            (Value::Timespan(a), Value::Timespan(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Value::Null => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(v) => v.hash(state),
            Value::Long(v) | Value::DateTime(v) | Value::Timespan(v) => v.hash(state),
            Value::Real(v) => canonical_bits(*v).hash(state),
            Value::Str(s) => s.hash(state),
        }
    }
}

fn canonical_bits(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

/// Total order used by `order by`, `top`, `min()` and `max()` for two values of one type.
/// Nulls are not handled here (the callers place them).
pub fn compare_same_type(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        (Value::Real(_), _) | (_, Value::Real(_)) => {
            let (x, y) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            x.total_cmp(&y)
        }
        _ => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => Ordering::Equal,
        },
    }
}

/// `2026-01-01T00:00:00.0000000Z`: Log Analytics writes 7 fractional digits.
pub fn format_datetime(ticks: i64) -> String {
    let secs = ticks.div_euclid(TICKS_PER_SECOND);
    let frac = ticks.rem_euclid(TICKS_PER_SECOND);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            frac
        ),
        Err(_) => ticks.to_string(),
    }
}

/// Kusto's timespan text: `[-][d.]hh:mm:ss[.fffffff]`.
pub fn format_timespan(ticks: i64) -> String {
    let sign = if ticks < 0 { "-" } else { "" };
    let t = ticks.unsigned_abs();
    let ticks_per_day = TICKS_PER_DAY as u64;
    let days = t / ticks_per_day;
    let rest = t % ticks_per_day;
    let hours = rest / TICKS_PER_HOUR as u64;
    let minutes = (rest % TICKS_PER_HOUR as u64) / TICKS_PER_MINUTE as u64;
    let seconds = (rest % TICKS_PER_MINUTE as u64) / TICKS_PER_SECOND as u64;
    let frac = rest % TICKS_PER_SECOND as u64;
    let mut out = String::from(sign);
    if days > 0 {
        out.push_str(&format!("{days}."));
    }
    out.push_str(&format!("{hours:02}:{minutes:02}:{seconds:02}"));
    if frac > 0 {
        out.push_str(&format!(".{frac:07}"));
    }
    out
}

fn format_real(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{v}")
    }
}

/// Parses the text of a `datetime(...)` literal or a `todatetime()` argument:
/// `YYYY-MM-DD`, optionally followed by `T` or a space and `hh:mm[:ss[.fffffff]]`, and an
/// optional `Z` or `±hh:mm` offset (UTC when absent, as in Kusto).
pub fn parse_datetime(text: &str) -> Option<i64> {
    let s = text.trim();
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = num(0, 4)?;
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    let date = time::Date::from_calendar_date(
        i32::try_from(year).ok()?,
        time::Month::try_from(u8::try_from(month).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    let mut pos = 10;
    let (mut hour, mut minute, mut second, mut frac_ticks) = (0, 0, 0, 0i64);
    if pos < b.len() && (b[pos] == b'T' || b[pos] == b' ') {
        pos += 1;
        hour = num(pos, 2)?;
        if b.get(pos + 2) != Some(&b':') {
            return None;
        }
        minute = num(pos + 3, 2)?;
        pos += 5;
        if b.get(pos) == Some(&b':') {
            second = num(pos + 1, 2)?;
            pos += 3;
            if b.get(pos) == Some(&b'.') {
                pos += 1;
                let start = pos;
                while pos < b.len() && b[pos].is_ascii_digit() {
                    pos += 1;
                }
                let digits = &s[start..pos];
                if digits.is_empty() {
                    return None;
                }
                // Ticks keep 7 digits; further digits are below Kusto's precision.
                let mut padded: String = digits.chars().take(7).collect();
                while padded.len() < 7 {
                    padded.push('0');
                }
                frac_ticks = padded.parse().ok()?;
            }
        }
    }
    let mut offset_minutes = 0i64;
    match b.get(pos) {
        None => {}
        Some(b'Z') | Some(b'z') if pos + 1 == b.len() => {}
        Some(sign @ (b'+' | b'-')) => {
            let oh = num(pos + 1, 2)?;
            if b.get(pos + 3) != Some(&b':') || pos + 6 != b.len() {
                return None;
            }
            let om = num(pos + 4, 2)?;
            offset_minutes = (oh * 60 + om) * if *sign == b'-' { -1 } else { 1 };
        }
        _ => return None,
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = i64::from(date.to_julian_day()) - i64::from(UNIX_EPOCH_JULIAN_DAY);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    seconds
        .checked_mul(TICKS_PER_SECOND)?
        .checked_add(frac_ticks)
}

const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

/// The tick count of a timespan unit suffix (`d`, `h`, `m`, `s`, `ms`, …), as Kusto spells them.
pub fn timespan_unit_ticks(unit: &str) -> Option<i64> {
    Some(match unit {
        "d" | "day" | "days" => TICKS_PER_DAY,
        "h" | "hr" | "hrs" | "hour" | "hours" => TICKS_PER_HOUR,
        "m" | "min" | "minute" | "minutes" => TICKS_PER_MINUTE,
        "s" | "sec" | "second" | "seconds" => TICKS_PER_SECOND,
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => TICKS_PER_MS,
        "microsecond" | "microseconds" => TICKS_PER_US,
        "tick" | "ticks" => 1,
        _ => return None,
    })
}

/// Parses a timespan's text: a number with a unit (`5m`, `1.5h`) or `[d.]hh:mm[:ss[.f]]`.
pub fn parse_timespan(text: &str) -> Option<i64> {
    let s = text.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, s),
    };
    let ticks = if s.contains(':') {
        parse_clock_timespan(s)?
    } else {
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let unit_ticks = if unit.is_empty() {
            TICKS_PER_DAY // Kusto reads a bare number in time() as days.
        } else {
            timespan_unit_ticks(unit)?
        };
        scale_ticks(number, unit_ticks)?
    };
    Some(if negative { -ticks } else { ticks })
}

/// `number × unit` in ticks, exact for integers and rounded to the tick for fractions.
pub fn scale_ticks(number: &str, unit_ticks: i64) -> Option<i64> {
    if number.is_empty() {
        return None;
    }
    if let Ok(whole) = number.parse::<i64>() {
        return whole.checked_mul(unit_ticks);
    }
    let v: f64 = number.parse().ok()?;
    let ticks = (v * unit_ticks as f64).round();
    (ticks.is_finite() && ticks.abs() < 9.0e18).then_some(ticks as i64)
}

fn parse_clock_timespan(s: &str) -> Option<i64> {
    let (days, clock) = match s.split_once(':') {
        Some((head, _)) if head.contains('.') => {
            let (d, _) = s.split_once('.')?;
            (d.parse::<i64>().ok()?, &s[d.len() + 1..])
        }
        _ => (0, s),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return None;
    }
    let hours: i64 = parts[0].parse().ok()?;
    let minutes: i64 = parts[1].parse().ok()?;
    let seconds_ticks = match parts.get(2) {
        Some(sec) => scale_ticks(sec, TICKS_PER_SECOND)?,
        None => 0,
    };
    Some(days * TICKS_PER_DAY + hours * TICKS_PER_HOUR + minutes * TICKS_PER_MINUTE + seconds_ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_in_kusto_forms_and_print_with_seven_digits() {
        let t = parse_datetime("2026-01-01T00:15:00Z").expect("parses");
        assert_eq!(format_datetime(t), "2026-01-01T00:15:00.0000000Z");
        assert_eq!(
            parse_datetime("2026-01-01"),
            parse_datetime("2026-01-01 00:00")
        );
        let frac = parse_datetime("2026-01-01 00:00:01.25").expect("parses");
        assert_eq!(frac - parse_datetime("2026-01-01").unwrap_or(0), 12_500_000);
        let offset = parse_datetime("2026-01-01T01:00:00+01:00").expect("parses");
        assert_eq!(Some(offset), parse_datetime("2026-01-01T00:00:00Z"));
        assert_eq!(parse_datetime("2026-13-01"), None);
        assert_eq!(parse_datetime("yesterday"), None);
        assert_eq!(parse_datetime("1970-01-01"), Some(0));
    }

    #[test]
    fn timespans_parse_units_and_clock_forms() {
        assert_eq!(parse_timespan("5m"), Some(5 * TICKS_PER_MINUTE));
        assert_eq!(parse_timespan("1.5h"), Some(90 * TICKS_PER_MINUTE));
        assert_eq!(parse_timespan("100ms"), Some(100 * TICKS_PER_MS));
        assert_eq!(
            parse_timespan("1.02:03:04"),
            Some(TICKS_PER_DAY + 2 * TICKS_PER_HOUR + 3 * TICKS_PER_MINUTE + 4 * TICKS_PER_SECOND)
        );
        assert_eq!(parse_timespan("2"), Some(2 * TICKS_PER_DAY));
        assert_eq!(parse_timespan("5 parsecs"), None);
        assert_eq!(format_timespan(5 * TICKS_PER_MINUTE), "00:05:00");
        assert_eq!(
            format_timespan(TICKS_PER_DAY + TICKS_PER_MS),
            "1.00:00:00.0010000"
        );
        assert_eq!(format_timespan(-TICKS_PER_SECOND), "-00:00:01");
    }

    #[test]
    fn reals_group_by_value_and_print_non_finite_as_strings() {
        assert_eq!(Value::Real(0.0), Value::Real(-0.0));
        assert_eq!(Value::Real(f64::NAN), Value::Real(f64::NAN));
        assert_ne!(Value::Int(1), Value::Long(1));
        assert_eq!(
            Value::Real(f64::INFINITY).to_json(),
            serde_json::json!("Infinity")
        );
        assert_eq!(Value::Real(1.5).to_json(), serde_json::json!(1.5));
        assert_eq!(Value::Null.to_json(), serde_json::Value::Null);
    }
}
