//! STUB — owned by the ARM/identity helper. Router assembly and bearer-token checks.

use std::sync::Arc;

use crate::state::EmulatorState;

pub fn router(state: Arc<EmulatorState>) -> axum::Router {
    axum::Router::new().with_state(state)
}
