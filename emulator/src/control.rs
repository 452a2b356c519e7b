//! STUB — owned by the ARM/identity helper. `/_emulator/` control API.
