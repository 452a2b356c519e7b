//! STUB — owned by the ARM/identity helper. Azure Monitor metrics API.
