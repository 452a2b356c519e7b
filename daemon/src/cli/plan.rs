//! `canaryd plan --policy FILE --rps N [--baseline-p99 MS] [--error-rate R] [--power P] [--json]`:
//! how long each phase of a policy needs at a given request rate (see `daemon/docs/plan.md`).
//!
//! Exit codes: 0 the plan was computed (warnings included), 2 bad input or usage.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::plan::{
    DEFAULT_BASELINE_P99_MS, DEFAULT_ERROR_RATE, DEFAULT_POWER, PlanInputs, plan, render_text,
};

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Policy file (YAML).
    #[arg(long)]
    pub policy: PathBuf,
    /// The endpoint's live requests per second (both deployments together).
    #[arg(long)]
    pub rps: f64,
    /// The baseline's p99 latency in milliseconds.
    #[arg(long = "baseline-p99", default_value_t = DEFAULT_BASELINE_P99_MS)]
    pub baseline_p99_ms: f64,
    /// The baseline's error rate (a fraction), taken for every error kind a check looks at.
    #[arg(long = "error-rate", default_value_t = DEFAULT_ERROR_RATE)]
    pub error_rate: f64,
    /// Probability of catching the planned regression (and of proving a good canary safe).
    #[arg(long, default_value_t = DEFAULT_POWER)]
    pub power: f64,
    /// Print the plan as one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Computes and prints the plan. Errors are bad input (exit code 2).
pub fn run(args: &PlanArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let inputs = PlanInputs {
        rps: args.rps,
        baseline_p99_ms: args.baseline_p99_ms,
        error_rate: args.error_rate,
        power: args.power,
    };
    inputs.validate()?;
    let policy = crate::policy::load_file(&args.policy)?;
    let report =
        plan(&policy, &inputs).with_context(|| format!("planning {}", args.policy.display()))?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report).context("writing the plan")?;
        writeln!(out).context("writing the plan")?;
    } else {
        write!(out, "{}", render_text(&report)).context("writing the plan")?;
    }
    Ok(())
}
