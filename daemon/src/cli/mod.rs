//! Command-line subcommands. `main.rs` holds the clap `Subcommand` enum; each subcommand's
//! arguments and logic live in a module here so they can be tested without a process.

pub mod check;
pub mod demo;
pub mod input;
pub mod judge;
pub mod run;
pub mod simulate;
