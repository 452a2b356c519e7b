//! `canaryd backtest --policy FILE --logs FILE [--baseline NAME] [--canary NAME] [--json]`:
//! replays a policy over an export of `AmlOnlineEndpointTrafficLog` (see
//! `daemon/docs/backtest.md`).
//!
//! Exit codes: 0 would promote or still running at the end of the logs, 1 would roll back,
//! 2 bad input or usage.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::backtest::{BacktestOutcome, choose_arms, read_logs, render_text, replay};

#[derive(Debug, Clone, Args)]
pub struct BacktestArgs {
    /// Policy file (YAML).
    #[arg(long)]
    pub policy: PathBuf,
    /// The export: CSV with a header (TimeGenerated, DeploymentName, ResponseCode,
    /// ModelStatusCode, TotalDurationMs, ...) or the Log Analytics query API's JSON response.
    #[arg(long)]
    pub logs: PathBuf,
    /// The baseline deployment (default: the policy's, else the one serving first).
    #[arg(long)]
    pub baseline: Option<String>,
    /// The canary deployment (default: the policy's, else the only other one).
    #[arg(long)]
    pub canary: Option<String>,
    /// Print the replay as one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the replay and prints it; Ok(true) when the policy would have rolled back.
pub fn run(args: &BacktestArgs, out: &mut dyn Write) -> anyhow::Result<bool> {
    let policy = crate::policy::load_file(&args.policy)?;
    let rows = read_logs(&args.logs)?;
    let (baseline, canary) = choose_arms(
        &args.logs,
        &rows,
        &policy,
        args.baseline.as_deref(),
        args.canary.as_deref(),
    )?;
    let report = replay(&policy, &args.logs, &rows, &baseline, &canary)?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report).context("writing the replay")?;
        writeln!(out).context("writing the replay")?;
    } else {
        write!(out, "{}", render_text(&report)).context("writing the replay")?;
    }
    Ok(report.outcome == BacktestOutcome::RolledBack)
}
