//! Promotion windows: standard 5-field cron expressions saying when traffic may *increase*.
//!
//! A traffic increase is allowed during minute `t` (in the windows' timezone) when `t` matches
//! an `allow` expression (or there is no `allow` list) and matches no `freeze` expression.
//! Rollbacks never look at windows.
//!
//! Expressions are parsed with the `cron` crate, which takes a seconds field first and numbers
//! weekdays 1-7 from Sunday. The standard form is converted: `0` is put in front as the seconds
//! field, and the weekday field (0-7, 0 and 7 = Sunday, names allowed) is read here and handed
//! on as a list of day names. Matching follows Vixie cron: when both day-of-month and
//! day-of-week are restricted (neither starts with `*`), a day matching either one matches.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use cron::TimeUnitSpec;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use time::{OffsetDateTime, UtcOffset};

use super::duration::format_duration;
use super::validate::{Problem, problem};

/// How far ahead a blocked increase looks for the next allowed minute.
pub const NEXT_OPENING_HORIZON: Duration = Duration::from_secs(8 * 86_400);

/// `plan.promotion_windows`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionWindows {
    /// Timezone the expressions are read in: `UTC` (default) or a fixed offset.
    #[serde(default)]
    pub timezone: WindowTimezone,
    /// Minutes when traffic may increase; `None`: every minute not frozen.
    #[serde(default)]
    pub allow: Option<Vec<CronWindow>>,
    /// Minutes when traffic may not increase, even inside an `allow` window.
    #[serde(default)]
    pub freeze: Vec<CronWindow>,
}

/// `plan.promotion_windows` as written; [`WindowsFile::resolve`] parses it with errors that
/// name the element at fault.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WindowsFile {
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    allow: Option<Vec<String>>,
    #[serde(default)]
    freeze: Vec<String>,
}

const CRON_FIX: &str = "write five fields, minute hour day-of-month month day-of-week, e.g. `* 9-16 * * Mon-Fri` (see \"Promotion windows\" in daemon/docs/policy.md)";

impl WindowsFile {
    pub(super) fn resolve(self) -> Result<PromotionWindows, Problem> {
        const FIELD: &str = "plan.promotion_windows";
        let timezone = match &self.timezone {
            None => WindowTimezone::default(),
            Some(text) => text.parse().map_err(|why| {
                problem(
                    format!("{FIELD}.timezone"),
                    why,
                    "give `UTC` or a fixed offset such as `+02:00` (names like Europe/Paris are not accepted, as daylight saving would move the windows: use the offset in force)",
                )
            })?,
        };
        let parse_all = |list: &[String], key: &str| -> Result<Vec<CronWindow>, Problem> {
            list.iter()
                .enumerate()
                .map(|(i, text)| {
                    text.parse()
                        .map_err(|why| problem(format!("{FIELD}.{key}[{i}]"), why, CRON_FIX))
                })
                .collect()
        };
        Ok(PromotionWindows {
            timezone,
            allow: self
                .allow
                .as_deref()
                .map(|list| parse_all(list, "allow"))
                .transpose()?,
            freeze: parse_all(&self.freeze, "freeze")?,
        })
    }
}

/// Why an increase is blocked at some minute, and when the next allowed minute is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowBlock {
    /// ``in the freeze `* * 24-26 12 *` (UTC)`` or ``outside the allowed windows `…` (UTC)``.
    pub why: String,
    /// The first allowed minute after the blocked one, within [`NEXT_OPENING_HORIZON`].
    pub next_opening: Option<OffsetDateTime>,
}

impl fmt::Display for WindowBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.why)
    }
}

impl PromotionWindows {
    /// Whether traffic may increase during the minute containing `at`.
    pub fn allows(&self, at: OffsetDateTime) -> bool {
        let local = at.to_offset(self.timezone.0);
        !self.freeze.iter().any(|w| w.matches(local))
            && self
                .allow
                .as_ref()
                .is_none_or(|allow| allow.iter().any(|w| w.matches(local)))
    }

    /// Why traffic may not increase during the minute containing `at`, or `None` when it may.
    fn block_reason(&self, at: OffsetDateTime) -> Option<String> {
        let local = at.to_offset(self.timezone.0);
        if let Some(freeze) = self.freeze.iter().find(|w| w.matches(local)) {
            return Some(format!(
                "in the freeze `{freeze}` ({})",
                self.timezone.describe()
            ));
        }
        match &self.allow {
            Some(allow) if !allow.iter().any(|w| w.matches(local)) => {
                let list = allow
                    .iter()
                    .map(|w| format!("`{w}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                Some(format!(
                    "outside the allowed windows {list} ({})",
                    self.timezone.describe()
                ))
            }
            _ => None,
        }
    }

    /// `None` when traffic may increase at `at`; otherwise why not and the next opening.
    pub fn blocked(&self, at: OffsetDateTime) -> Option<WindowBlock> {
        let why = self.block_reason(at)?;
        Some(WindowBlock {
            why,
            next_opening: self.next_opening(at, NEXT_OPENING_HORIZON),
        })
    }

    /// The first minute after the one containing `after`, at most `horizon` later, during which
    /// traffic may increase.
    pub fn next_opening(&self, after: OffsetDateTime, horizon: Duration) -> Option<OffsetDateTime> {
        let start = truncate_to_minute(after.to_offset(self.timezone.0));
        let minutes = horizon.as_secs() / 60;
        (1..=minutes)
            .map(|m| start + Duration::from_secs(m * 60))
            .find(|&minute| self.allows(minute))
    }

    /// One clause for a decision: what blocks and when the next window opens.
    pub fn describe_block(&self, block: &WindowBlock, now: OffsetDateTime) -> String {
        match block.next_opening {
            Some(opening) => format!(
                "{}; the next window opens {} (in {})",
                block.why,
                format_minute(opening),
                format_duration(whole_minutes(until(now, opening)))
            ),
            None => format!(
                "{}; no allowed minute in the next {} days",
                block.why,
                NEXT_OPENING_HORIZON.as_secs() / 86_400
            ),
        }
    }
}

/// From `now` to `later`, zero when `later` is not later.
fn until(now: OffsetDateTime, later: OffsetDateTime) -> Duration {
    let d = later - now;
    if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs()
    }
}

/// Rounded up to the minute, so that "in 14h05m" never promises too early.
fn whole_minutes(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs().div_ceil(60) * 60)
}

fn truncate_to_minute(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_second(0)
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(at)
}

/// `Mon 2026-11-23 09:00 +02:00` (UTC shown as `UTC`).
pub fn format_minute(at: OffsetDateTime) -> String {
    let weekday = match at.weekday() {
        time::Weekday::Monday => "Mon",
        time::Weekday::Tuesday => "Tue",
        time::Weekday::Wednesday => "Wed",
        time::Weekday::Thursday => "Thu",
        time::Weekday::Friday => "Fri",
        time::Weekday::Saturday => "Sat",
        time::Weekday::Sunday => "Sun",
    };
    format!(
        "{weekday} {:04}-{:02}-{:02} {:02}:{:02} {}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        WindowTimezone(at.offset())
    )
}

/// The windows' timezone: UTC or a fixed offset. Names such as `Europe/Paris` are refused: a
/// fixed offset cannot follow daylight saving, and silently guessing would move the windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowTimezone(pub UtcOffset);

impl Default for WindowTimezone {
    fn default() -> Self {
        WindowTimezone(UtcOffset::UTC)
    }
}

impl WindowTimezone {
    fn describe(&self) -> String {
        if self.0.is_utc() {
            "UTC".into()
        } else {
            format!("UTC{self}")
        }
    }
}

impl fmt::Display for WindowTimezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_utc() {
            return f.write_str("UTC");
        }
        let (hours, minutes, _) = self.0.as_hms();
        let sign = if self.0.is_negative() { '-' } else { '+' };
        write!(f, "{sign}{:02}:{:02}", hours.abs(), minutes.abs())
    }
}

impl FromStr for WindowTimezone {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("utc") || text == "Z" {
            return Ok(WindowTimezone(UtcOffset::UTC));
        }
        let not_one = || format!("'{text}' is not a timezone canaryd understands");
        let (sign, rest) = match text.as_bytes().first() {
            Some(b'+') => (1i8, &text[1..]),
            Some(b'-') => (-1i8, &text[1..]),
            _ => return Err(not_one()),
        };
        let (hours, minutes) = match rest.split_once(':') {
            Some((h, m)) => (h, m),
            None if rest.len() == 4 => rest.split_at(2),
            None => (rest, "0"),
        };
        let number = |part: &str, max: i8| -> Result<i8, String> {
            if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_one());
            }
            part.parse::<i8>()
                .ok()
                .filter(|v| *v <= max)
                .ok_or_else(not_one)
        };
        let (hours, minutes) = (number(hours, 14)?, number(minutes, 59)?);
        UtcOffset::from_hms(sign * hours, sign * minutes, 0)
            .map(WindowTimezone)
            .map_err(|_| not_one())
    }
}

impl Serialize for WindowTimezone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for WindowTimezone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

/// One standard 5-field cron expression (minute hour day-of-month month day-of-week).
#[derive(Debug, Clone)]
pub struct CronWindow {
    /// As written.
    source: String,
    /// Parsed with a `0` seconds field in front and the weekdays as names.
    schedule: cron::Schedule,
    /// Day-of-month / day-of-week start with `*` (for Vixie's either-day rule).
    any_day_of_month: bool,
    any_day_of_week: bool,
}

impl PartialEq for CronWindow {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Display for CronWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl CronWindow {
    /// Whether the minute containing `at` (read in `at`'s own offset) matches.
    pub fn matches(&self, at: OffsetDateTime) -> bool {
        let s = &self.schedule;
        let day_of_month = s.days_of_month().includes(u32::from(at.day()));
        let day_of_week = s
            .days_of_week()
            .includes(u32::from(at.weekday().number_from_sunday()));
        let day = if self.any_day_of_month || self.any_day_of_week {
            day_of_month && day_of_week
        } else {
            day_of_month || day_of_week
        };
        day && s.minutes().includes(u32::from(at.minute()))
            && s.hours().includes(u32::from(at.hour()))
            && s.months().includes(u32::from(u8::from(at.month())))
    }
}

impl FromStr for CronWindow {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let source = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let fields: Vec<&str> = source.split(' ').filter(|f| !f.is_empty()).collect();
        let prefix = format!("`{source}` is not a cron expression");
        if fields.len() != 5 {
            let hint = match fields.len() {
                6 | 7 => ": canaryd takes the standard 5-field form without seconds or year",
                _ => "",
            };
            return Err(format!(
                "{prefix}: it has {} fields, not 5 (minute hour day-of-month month day-of-week){hint}",
                fields.len()
            ));
        }
        let weekdays = parse_weekdays(fields[4]).map_err(|why| format!("{prefix}: {why}"))?;
        let converted = format!(
            "0 {} {} {} {} {weekdays}",
            fields[0], fields[1], fields[2], fields[3]
        );
        let schedule = cron::Schedule::from_str(&converted).map_err(|error| {
            // The crate quotes the converted expression with a caret; its last line says why.
            let text = error.to_string();
            let why = text.lines().last().unwrap_or_default().trim();
            format!("{prefix}: {}", why.trim_end_matches('.'))
        })?;
        Ok(CronWindow {
            any_day_of_month: fields[2].starts_with('*'),
            any_day_of_week: fields[4].starts_with('*'),
            source,
            schedule,
        })
    }
}

impl Serialize for CronWindow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for CronWindow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

const DAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// A standard day-of-week field (`*`, `1-5`, `Mon-Fri`, `0,6`, `*/2`, 7 = Sunday) as the list of
/// day names the `cron` crate reads unambiguously.
fn parse_weekdays(field: &str) -> Result<String, String> {
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: usize = step
                    .parse()
                    .ok()
                    .filter(|s| (1..=7).contains(s))
                    .ok_or_else(|| {
                        format!("day-of-week step '/{step}' is not a number from 1 to 7")
                    })?;
                (range, step)
            }
            None => (item, 1),
        };
        let (first, last) = match range {
            "*" => (0, 6),
            _ => match range.split_once('-') {
                Some((a, b)) => (weekday(a)?, weekday(b)?),
                // `5/2` (cronie) means from Friday on.
                None if step > 1 => (weekday(range)?, 6),
                None => {
                    let day = weekday(range)?;
                    (day, day)
                }
            },
        };
        // 7 is Sunday too: `5-7` is Fri, Sat, Sun.
        if first > last {
            return Err(format!(
                "day-of-week range '{range}' goes backwards; write it as two, e.g. 5-6,0"
            ));
        }
        for day in (first..=last).step_by(step) {
            days[day % 7] = true;
        }
    }
    Ok(DAY_NAMES
        .iter()
        .zip(days)
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(","))
}

/// 0-7 (0 and 7 = Sunday) or an English day name / three-letter abbreviation.
fn weekday(text: &str) -> Result<usize, String> {
    if let Ok(number) = text.parse::<usize>() {
        return if number <= 7 {
            Ok(number)
        } else {
            Err(format!(
                "day of week {number} is out of range (0-7, 0 and 7 are Sunday)"
            ))
        };
    }
    let lower = text.to_ascii_lowercase();
    const FULL: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    FULL.iter()
        .position(|full| lower == *full || (lower.len() == 3 && full.starts_with(&lower)))
        .ok_or_else(|| format!("'{text}' is not a day of the week (0-7 or Sun, Mon, … Sat)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn cron(text: &str) -> CronWindow {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn weekdays_follow_standard_cron() {
        assert_eq!(
            parse_weekdays("*").as_deref(),
            Ok("Sun,Mon,Tue,Wed,Thu,Fri,Sat")
        );
        assert_eq!(parse_weekdays("1-5").as_deref(), Ok("Mon,Tue,Wed,Thu,Fri"));
        assert_eq!(
            parse_weekdays("Mon-Fri").as_deref(),
            Ok("Mon,Tue,Wed,Thu,Fri")
        );
        assert_eq!(parse_weekdays("5-7").as_deref(), Ok("Sun,Fri,Sat"));
        assert_eq!(parse_weekdays("0,6").as_deref(), Ok("Sun,Sat"));
        assert_eq!(parse_weekdays("7").as_deref(), Ok("Sun"));
        assert_eq!(parse_weekdays("*/2").as_deref(), Ok("Sun,Tue,Thu,Sat"));
        assert_eq!(parse_weekdays("saturday").as_deref(), Ok("Sat"));
        assert!(parse_weekdays("8").is_err());
        assert!(parse_weekdays("Fri-Mon").is_err());
        assert!(parse_weekdays("Mo").is_err());
        assert!(parse_weekdays("*/0").is_err());
    }

    #[test]
    fn working_hours_match_minutes_inside_only() {
        let hours = cron("* 9-16 * * Mon-Fri");
        // 2026-11-23 is a Monday.
        assert!(hours.matches(datetime!(2026-11-23 09:00 UTC)));
        assert!(hours.matches(datetime!(2026-11-23 16:59 UTC)));
        assert!(!hours.matches(datetime!(2026-11-23 17:00 UTC)));
        assert!(!hours.matches(datetime!(2026-11-23 08:59 UTC)));
        assert!(!hours.matches(datetime!(2026-11-22 12:00 UTC)), "Sunday");
        let numeric = cron("* 9-16 * * 1-5");
        assert!(
            numeric.matches(datetime!(2026-11-23 12:00 UTC)),
            "1 is Monday"
        );
        assert!(
            !numeric.matches(datetime!(2026-11-22 12:00 UTC)),
            "0 is Sunday"
        );
    }

    #[test]
    fn restricted_day_of_month_and_week_match_either() {
        // Vixie cron: the 1st of the month, or any Friday.
        let either = cron("* * 1 * Fri");
        assert!(
            either.matches(datetime!(2026-12-01 10:00 UTC)),
            "Tuesday the 1st"
        );
        assert!(
            either.matches(datetime!(2026-11-27 10:00 UTC)),
            "Friday the 27th"
        );
        assert!(!either.matches(datetime!(2026-11-26 10:00 UTC)));
        // With one of them `*`, both must match.
        let christmas = cron("* * 24-26 12 *");
        assert!(christmas.matches(datetime!(2026-12-25 03:00 UTC)));
        assert!(!christmas.matches(datetime!(2026-12-27 03:00 UTC)));
    }

    #[test]
    fn bad_expressions_say_why() {
        let six = "0 * 9-16 * * Mon-Fri".parse::<CronWindow>().unwrap_err();
        assert!(six.contains("6 fields") && six.contains("5-field"), "{six}");
        let minute = "61 * * * *".parse::<CronWindow>().unwrap_err();
        assert!(minute.contains("not a cron expression"), "{minute}");
        let day = "* * * * Funday".parse::<CronWindow>().unwrap_err();
        assert!(day.contains("'Funday' is not a day"), "{day}");
        assert!("* 25 * * *".parse::<CronWindow>().is_err());
        assert!("* * 32 * *".parse::<CronWindow>().is_err());
        assert!("* * * 13 *".parse::<CronWindow>().is_err());
    }

    #[test]
    fn allows_agrees_with_blocked_minute_by_minute() {
        let windows = PromotionWindows {
            timezone: "+05:30".parse().expect("offset"),
            allow: Some(vec![cron("*/15 9-16 * * 1-5"), cron("0-29 10 * * Sat")]),
            freeze: vec![cron("* 12 * * *"), cron("* * 1 * Fri")],
        };
        let start = datetime!(2027-01-01 00:00 UTC);
        let mut allowed = 0;
        for minute in 0..(14 * 24 * 60) {
            let at = start + Duration::from_secs(minute * 60);
            let allows = windows.allows(at);
            assert_eq!(allows, windows.block_reason(at).is_none(), "{at}");
            allowed += u32::from(allows);
        }
        // Weekdays 9-16 every 15 minutes is 32 minutes a day; 10:00-10:29 on Saturdays; the
        // 12:xx hour and Fridays are frozen (Vixie: `1 * Fri` is the 1st *or* any Friday).
        // 14 days from Fri 2027-01-01: 8 weekdays other than Friday, 2 Saturdays.
        assert_eq!(allowed, 8 * (32 - 4) + 2 * 30);
    }

    #[test]
    fn timezones_are_utc_or_fixed_offsets() {
        let parse = |t: &str| t.parse::<WindowTimezone>().map(|z| z.to_string());
        assert_eq!(parse("UTC").as_deref(), Ok("UTC"));
        assert_eq!(parse("Z").as_deref(), Ok("UTC"));
        assert_eq!(parse("+02:00").as_deref(), Ok("+02:00"));
        assert_eq!(parse("-05:30").as_deref(), Ok("-05:30"));
        assert_eq!(parse("+0100").as_deref(), Ok("+01:00"));
        assert_eq!(parse("+9").as_deref(), Ok("+09:00"));
        assert!(parse("Europe/Paris").is_err());
        assert!(parse("+25:00").is_err());
        assert!(parse("+02:75").is_err());
    }

    #[test]
    fn next_opening_is_the_first_allowed_minute() {
        let windows = PromotionWindows {
            timezone: WindowTimezone(UtcOffset::UTC),
            allow: Some(vec![cron("* 9-16 * * Mon-Fri")]),
            freeze: vec![cron("* * 24-26 12 *")],
        };
        // Saturday evening → Monday 09:00.
        let block = windows
            .blocked(datetime!(2026-11-21 20:30:15 UTC))
            .expect("blocked on a Saturday");
        assert_eq!(block.next_opening, Some(datetime!(2026-11-23 09:00 UTC)));
        // Thursday 24 December 2026 is frozen; the 27th is a Sunday: Monday the 28th.
        let block = windows
            .blocked(datetime!(2026-12-24 10:00 UTC))
            .expect("frozen");
        assert!(block.why.contains("freeze"), "{}", block.why);
        assert_eq!(block.next_opening, Some(datetime!(2026-12-28 09:00 UTC)));
        assert!(windows.allows(datetime!(2026-12-23 16:59:59 UTC)));
        let never = PromotionWindows {
            timezone: WindowTimezone(UtcOffset::UTC),
            allow: None,
            freeze: vec![cron("* * * * *")],
        };
        let block = never
            .blocked(datetime!(2026-12-24 10:00 UTC))
            .expect("frozen");
        assert_eq!(block.next_opening, None);
        let text = never.describe_block(&block, datetime!(2026-12-24 10:00 UTC));
        assert!(
            text.ends_with("no allowed minute in the next 8 days"),
            "{text}"
        );
    }
}
