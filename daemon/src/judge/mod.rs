//! The judge: observations in, a verdict with evidence out. Pure: no I/O, no clock.
//! The daemon, the simulator and the CLI all call the same code.

// Exact statistics shared by every method.
pub mod binomial;
pub mod histogram;
pub mod hodges_lehmann;
pub mod mann_whitney;
pub mod quantile;

// Kayenta's NetflixACAJudge, faithfully (policy option `judge: kayenta`).
pub mod kayenta;

// The default, anytime-valid judge and the pieces around it.
pub mod absolute;
pub mod anytime;
pub mod error_rate;
pub mod evaluate;
mod latency_pass;
pub mod observation;
pub mod quantile_cs;
pub mod sequential;
pub mod spec;
pub mod verdict;

pub use evaluate::{JudgeState, evaluate};
pub use observation::{ArmObservation, ErrorKind, Observation, RequestSample};
pub use spec::{JudgeMethod, JudgeSpec};
pub use verdict::{CheckResult, Outcome, Verdict};
