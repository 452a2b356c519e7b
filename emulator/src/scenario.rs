//! STUB — owned by the traffic helper. Scenario files (YAML).

use crate::state::EmulatorState;

#[derive(Debug, Clone, Default)]
pub struct Scenario {}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{0}")]
    Invalid(String),
}

impl Scenario {
    pub fn load_into(&self, _state: &EmulatorState) -> Result<(), ScenarioError> {
        Ok(())
    }
}
