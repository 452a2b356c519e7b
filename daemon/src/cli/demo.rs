//! `canaryd demo`: arguments; the demo itself is `crate::demo`.

use anyhow::Context;

use crate::demo::DemoOptions;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// One JSON object per line instead of the terminal view; the last line is the summary.
    #[arg(long)]
    pub json: bool,
    /// Simulated seconds per wall second.
    #[arg(long, default_value_t = crate::demo::DEFAULT_TIME_SCALE)]
    pub time_scale: f64,
}

/// Runs the demo; true when good-ep was promoted and bad-ep rolled back.
pub fn run(args: &DemoArgs) -> anyhow::Result<bool> {
    if !(args.time_scale.is_finite() && args.time_scale >= 1.0 && args.time_scale <= 2000.0) {
        anyhow::bail!(
            "--time-scale {} is out of range; fix: use a number from 1 to 2000",
            args.time_scale
        );
    }
    // Before the runtime: the managed-identity environment is set here (see DemoOptions::prepare).
    // The live view is on stdout; only warnings and errors go to stderr unless CANARYD_LOG says.
    crate::cli::run::init_logging(crate::config::LogFormat::Text, "warn");
    let options = DemoOptions::prepare(args.json, args.time_scale)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let summary = runtime.block_on(crate::demo::run(options))?;
    Ok(summary.as_expected())
}
