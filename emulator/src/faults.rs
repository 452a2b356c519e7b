//! Faults on demand. The same [`Fault`] value comes from a scenario file (at a given time) or
//! from `POST /_emulator/faults`; the routes consult [`FaultState`] on every request.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use time::OffsetDateTime;

use crate::model::TrafficMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// The next `count` long-running operations end `Failed` (the split is not applied).
    LroFail {
        #[serde(default = "one")]
        count: u32,
    },
    /// The next `count` long-running operations stay `InProgress` forever.
    LroHang {
        #[serde(default = "one")]
        count: u32,
    },
    /// The next `count` ARM requests answer `status` (500 or 503) with an ARM error body.
    ArmError {
        status: u16,
        #[serde(default = "one")]
        count: u32,
    },
    /// The next `count` ARM requests answer 429 with `Retry-After: retry_after_s`.
    ArmThrottle {
        #[serde(default = "one")]
        count: u32,
        #[serde(default = "one")]
        retry_after_s: u32,
    },
    /// The next `count` Log Analytics queries answer `status` (500, 502, 503 or 504).
    LogAnalyticsError {
        status: u16,
        #[serde(default = "one")]
        count: u32,
    },
    /// The next `count` Log Analytics queries time out: 504 `GatewayTimeout` after `delay_ms`.
    LogAnalyticsTimeout {
        #[serde(default = "one")]
        count: u32,
        #[serde(default)]
        delay_ms: u64,
    },
    /// The next `count` Log Analytics queries answer 200 with half their rows and an `error`.
    LogAnalyticsPartial {
        #[serde(default = "one")]
        count: u32,
    },
    /// Rows generated during the next `duration_s` simulated seconds become visible
    /// `extra_lag_s` seconds later than the configured ingestion delay.
    IngestionLagSpike { extra_lag_s: u64, duration_s: u64 },
    /// A deployment's provisioningState becomes `Failed`.
    DeploymentFailed {
        endpoint: String,
        deployment: String,
    },
    /// Someone outside the daemon sets the split (recorded with actor `outside`).
    OutsideTrafficChange {
        endpoint: String,
        traffic: TrafficMap,
        #[serde(default)]
        mirror_traffic: Option<TrafficMap>,
    },
}

fn one() -> u32 {
    1
}

/// What a Log Analytics query should suffer, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogAnalyticsFault {
    Status(u16),
    Timeout { delay_ms: u64 },
    Partial,
}

/// What an ARM request should suffer, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmFault {
    Status(u16),
    Throttle { retry_after_s: u32 },
}

/// What a newly created long-running operation should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LroFault {
    Fail,
    Hang,
}

/// Pending one-shot faults, consumed in order by the routes.
#[derive(Debug, Default)]
pub struct FaultState {
    arm: VecDeque<ArmFault>,
    lro: VecDeque<LroFault>,
    log_analytics: VecDeque<LogAnalyticsFault>,
    /// Windows of simulated time whose rows are delayed further: (from, until, extra lag).
    lag_spikes: Vec<(OffsetDateTime, OffsetDateTime, time::Duration)>,
}

impl FaultState {
    /// Queues a one-shot fault. Faults that change the world (deployment failed, outside
    /// traffic change) are applied by the caller through the ARM model, not queued here;
    /// this returns them back.
    pub fn queue(&mut self, fault: &Fault, now: OffsetDateTime) -> Option<Fault> {
        match fault {
            Fault::LroFail { count } => {
                (0..*count).for_each(|_| self.lro.push_back(LroFault::Fail))
            }
            Fault::LroHang { count } => {
                (0..*count).for_each(|_| self.lro.push_back(LroFault::Hang))
            }
            Fault::ArmError { status, count } => {
                (0..*count).for_each(|_| self.arm.push_back(ArmFault::Status(*status)))
            }
            Fault::ArmThrottle {
                count,
                retry_after_s,
            } => (0..*count).for_each(|_| {
                self.arm.push_back(ArmFault::Throttle {
                    retry_after_s: *retry_after_s,
                })
            }),
            Fault::LogAnalyticsError { status, count } => (0..*count).for_each(|_| {
                self.log_analytics
                    .push_back(LogAnalyticsFault::Status(*status))
            }),
            Fault::LogAnalyticsTimeout { count, delay_ms } => (0..*count).for_each(|_| {
                self.log_analytics.push_back(LogAnalyticsFault::Timeout {
                    delay_ms: *delay_ms,
                })
            }),
            Fault::LogAnalyticsPartial { count } => {
                (0..*count).for_each(|_| self.log_analytics.push_back(LogAnalyticsFault::Partial))
            }
            Fault::IngestionLagSpike {
                extra_lag_s,
                duration_s,
            } => self.lag_spikes.push((
                now,
                now + time::Duration::seconds(*duration_s as i64),
                time::Duration::seconds(*extra_lag_s as i64),
            )),
            Fault::DeploymentFailed { .. } | Fault::OutsideTrafficChange { .. } => {
                return Some(fault.clone());
            }
        }
        None
    }

    pub fn take_arm(&mut self) -> Option<ArmFault> {
        self.arm.pop_front()
    }

    pub fn take_lro(&mut self) -> Option<LroFault> {
        self.lro.pop_front()
    }

    pub fn take_log_analytics(&mut self) -> Option<LogAnalyticsFault> {
        self.log_analytics.pop_front()
    }

    /// Extra ingestion lag for a row generated at `generated`.
    pub fn extra_lag(&self, generated: OffsetDateTime) -> time::Duration {
        self.lag_spikes
            .iter()
            .filter(|(from, until, _)| generated >= *from && generated < *until)
            .map(|(_, _, extra)| *extra)
            .max()
            .unwrap_or(time::Duration::ZERO)
    }

    /// The lag-spike windows `(from, until, extra lag)`, for callers that check many rows
    /// without holding the fault lock (Log Analytics copies them once per query).
    pub fn lag_spikes(&self) -> &[(OffsetDateTime, OffsetDateTime, time::Duration)] {
        &self.lag_spikes
    }

    /// Forgets every pending fault.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_from_yaml_and_json_alike() {
        let f: Fault = serde_yaml_ng::from_str("kind: arm_error\nstatus: 503\ncount: 2\n").unwrap();
        assert_eq!(
            f,
            Fault::ArmError {
                status: 503,
                count: 2
            }
        );
        let g: Fault = serde_json::from_str(r#"{"kind":"lro_fail"}"#).unwrap();
        assert_eq!(g, Fault::LroFail { count: 1 });
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"lro_fail","cnt":2}"#).is_err());
    }

    #[test]
    fn one_shot_faults_are_consumed_in_order() {
        let now = time::macros::datetime!(2026-01-01 00:00 UTC);
        let mut s = FaultState::default();
        s.queue(
            &Fault::ArmThrottle {
                count: 2,
                retry_after_s: 3,
            },
            now,
        );
        s.queue(
            &Fault::ArmError {
                status: 500,
                count: 1,
            },
            now,
        );
        assert_eq!(s.take_arm(), Some(ArmFault::Throttle { retry_after_s: 3 }));
        assert_eq!(s.take_arm(), Some(ArmFault::Throttle { retry_after_s: 3 }));
        assert_eq!(s.take_arm(), Some(ArmFault::Status(500)));
        assert_eq!(s.take_arm(), None);
    }

    #[test]
    fn lag_spike_applies_only_inside_its_window() {
        let now = time::macros::datetime!(2026-01-01 00:00 UTC);
        let mut s = FaultState::default();
        s.queue(
            &Fault::IngestionLagSpike {
                extra_lag_s: 300,
                duration_s: 60,
            },
            now,
        );
        assert_eq!(
            s.extra_lag(now + time::Duration::seconds(30)),
            time::Duration::seconds(300)
        );
        assert_eq!(
            s.extra_lag(now + time::Duration::seconds(61)),
            time::Duration::ZERO
        );
    }
}
