//! Time as a parameter. The daemon never reads the system clock directly: the demo and the
//! end-to-end tests run it on a compressed clock shared with the emulator, so an hour-long
//! rollout plays out in a minute with every interval, deadline and bake time intact.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
    /// Waits until `d` of this clock's time has passed.
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

pub type SharedClock = Arc<dyn Clock>;

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// Simulated time = epoch + (wall time since epoch) × scale. Two processes given the same
/// epoch and scale agree on the time (the emulator's scaled clock started at `epoch` does too).
pub struct ScaledClock {
    epoch: SystemTime,
    scale: f64,
}

impl ScaledClock {
    pub fn new(epoch: SystemTime, scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Self { epoch, scale }
    }

    /// `epoch_unix_s` as printed by the process that chose the epoch.
    pub fn from_unix(epoch_unix_s: f64, scale: f64) -> Self {
        let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(epoch_unix_s.max(0.0));
        Self::new(epoch, scale)
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> OffsetDateTime {
        let wall = SystemTime::now()
            .duration_since(self.epoch)
            .unwrap_or_default()
            .as_secs_f64();
        let epoch = OffsetDateTime::from(self.epoch);
        epoch + time::Duration::seconds_f64(wall * self.scale)
    }

    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(d.div_f64(self.scale)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scaled_clock_compresses_sleeps_and_time() {
        let clock = ScaledClock::new(SystemTime::now(), 600.0);
        let before = clock.now();
        let wall = std::time::Instant::now();
        clock.sleep(Duration::from_secs(6)).await; // 10 ms of wall time
        let elapsed_sim = clock.now() - before;
        assert!(wall.elapsed() < Duration::from_millis(500));
        assert!(elapsed_sim >= time::Duration::seconds(6), "{elapsed_sim}");
    }
}
