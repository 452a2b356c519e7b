//! canaryd: automated canary analysis for Azure Machine Learning managed online endpoints.
//!
//! The judge and the rollout state machine are pure; everything that touches the world
//! (Azure, SQLite, the clock) sits at the edges. See ARCHITECTURE.md.

pub mod azure;
pub mod backtest;
pub mod cli;
pub mod clock;
pub mod config;
pub mod controller;
pub mod demo;
pub mod judge;
pub mod model;
pub mod notify;
pub mod plan;
pub mod policy;
pub mod rollout;
pub mod runner;
pub mod server;
pub mod sim;
pub mod source;
pub mod store;
pub mod ui;
