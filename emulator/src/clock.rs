//! Simulated time. Every timestamp the emulator hands out (log rows, LRO start times,
//! systemData, metrics buckets, KQL `now()`) comes from here, so a test can run an hour of
//! traffic in seconds. Token expiry is the one exception: `azure_identity` compares
//! `expires_on` with the real wall clock, so tokens are stamped in real time.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

#[derive(Debug)]
enum Mode {
    /// Simulated time runs `scale` times faster than the wall clock from `origin_wall`.
    Scaled {
        origin_sim: OffsetDateTime,
        origin_wall: Instant,
        scale: f64,
    },
    /// Simulated time moves only when told to (tests, `/_emulator/clock/advance`).
    Manual { now: OffsetDateTime },
}

#[derive(Debug)]
pub struct Clock {
    mode: Mutex<Mode>,
}

impl Clock {
    /// A clock that starts at `start` and runs `scale` simulated seconds per wall second.
    pub fn scaled(start: OffsetDateTime, scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Self {
            mode: Mutex::new(Mode::Scaled {
                origin_sim: start,
                origin_wall: Instant::now(),
                scale,
            }),
        }
    }

    /// Real time (scale 1) starting at the wall clock's now.
    pub fn real() -> Self {
        Self::scaled(OffsetDateTime::now_utc(), 1.0)
    }

    /// A clock that only moves through [`Clock::advance`].
    pub fn manual(start: OffsetDateTime) -> Self {
        Self {
            mode: Mutex::new(Mode::Manual { now: start }),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        let mode = self.mode.lock().unwrap_or_else(|e| e.into_inner());
        match &*mode {
            Mode::Scaled {
                origin_sim,
                origin_wall,
                scale,
            } => {
                let wall = origin_wall.elapsed().as_secs_f64() * scale;
                *origin_sim + time::Duration::seconds_f64(wall)
            }
            Mode::Manual { now } => *now,
        }
    }

    pub fn is_manual(&self) -> bool {
        matches!(
            &*self.mode.lock().unwrap_or_else(|e| e.into_inner()),
            Mode::Manual { .. }
        )
    }

    /// Simulated seconds per wall second (1.0 for a manual clock, whose pace is the caller's).
    pub fn scale(&self) -> f64 {
        match &*self.mode.lock().unwrap_or_else(|e| e.into_inner()) {
            Mode::Scaled { scale, .. } => *scale,
            Mode::Manual { .. } => 1.0,
        }
    }

    /// Moves a manual clock forward. Returns false on a scaled clock, which cannot be moved.
    pub fn advance(&self, by: time::Duration) -> bool {
        let mut mode = self.mode.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *mode {
            Mode::Manual { now } => {
                *now += by;
                true
            }
            Mode::Scaled { .. } => false,
        }
    }

    /// How long to sleep on the wall clock for `sim` simulated time to pass.
    pub fn wall_duration(&self, sim: time::Duration) -> Duration {
        let secs = sim.as_seconds_f64().max(0.0) / self.scale();
        Duration::from_secs_f64(secs)
    }
}

/// Unix time in microseconds, the log store's time unit (clamped to the i64 range).
pub fn unix_us(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The instant of a log row's `time_us` (the epoch for a value out of range).
pub fn from_unix_us(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339 with a `Z` suffix, as Azure writes timestamps.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let start = time::macros::datetime!(2026-01-01 00:00 UTC);
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        assert!(clock.advance(time::Duration::minutes(5)));
        assert_eq!(clock.now(), start + time::Duration::minutes(5));
    }

    #[test]
    fn scaled_clock_runs_faster_than_the_wall() {
        let start = time::macros::datetime!(2026-01-01 00:00 UTC);
        let clock = Clock::scaled(start, 1000.0);
        std::thread::sleep(Duration::from_millis(20));
        let elapsed = clock.now() - start;
        assert!(elapsed >= time::Duration::seconds(19), "{elapsed}");
        assert!(!clock.advance(time::Duration::seconds(1)));
    }
}
