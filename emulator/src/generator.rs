//! STUB — owned by the traffic helper. Synthetic request rows following the live split.

use std::sync::Arc;

use crate::state::EmulatorState;

#[derive(Default)]
pub struct TrafficRuntime {}

pub fn spawn(_state: Arc<EmulatorState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {})
}
