//! STUB — owned by the traffic helper. `azure-emulator --scenario FILE [--listen ADDR] [--time-scale N]`.

fn main() {}
