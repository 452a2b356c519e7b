//! Command-line subcommands. `main.rs` holds the clap `Subcommand` enum; each subcommand's
//! arguments and logic live in a module here so they can be tested without a process.

pub mod backtest;
pub mod check;
pub mod control;
pub mod demo;
pub mod input;
pub mod judge;
pub mod plan;
pub mod report;
pub mod run;
pub mod simulate;
