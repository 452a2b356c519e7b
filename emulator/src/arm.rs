//! STUB — owned by the ARM/identity helper. ARM online endpoints, deployments, LROs, throttling.

#[derive(Default)]
pub struct ArmRuntime {}
