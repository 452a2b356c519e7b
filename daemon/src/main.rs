//! The `canaryd` command line. Each subcommand's arguments and logic live in `canaryd::cli`.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use canaryd::cli::demo::DemoArgs;
use canaryd::cli::judge::{JudgeArgs, run as run_judge};
use canaryd::cli::run::RunArgs;
use canaryd::cli::simulate::SimulateArgs;
use canaryd::judge::Outcome;

/// Automated canary analysis for Azure Machine Learning managed online endpoints.
#[derive(Debug, Parser)]
#[command(name = "canaryd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: watch every endpoint named by a policy and roll its canaries out.
    ///
    /// Exit codes: 0 after a graceful stop (SIGTERM, Ctrl-C), 2 when it cannot start.
    Run(RunArgs),
    /// Validate policy files; every error names file:line:column and the fix.
    ///
    /// Exit codes: 0 all valid, 1 any invalid, 2 bad usage.
    Check(CheckArgs),
    /// Run the emulator and the daemon in one process on a compressed clock: one good canary
    /// promoted, one bad canary rolled back.
    ///
    /// Exit codes: 0 when both ended as expected, 1 otherwise, 2 when the demo could not run.
    Demo(DemoArgs),
    /// Judge a canary against a baseline from two files of request samples (one look).
    ///
    /// Exit codes: 0 not proven worse (safe, inconclusive or no data), 1 regressed, 2 bad input.
    Judge(JudgeArgs),
    /// Monte Carlo rollouts of a policy over traffic scenarios, with the policy's judge, a
    /// Kayenta-style judge, a Pocock judge and an oracle SPRT side by side.
    ///
    /// Exit codes: 0 done, 2 bad input (missing or invalid file, unknown method, --runs 0).
    Simulate(SimulateArgs),
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// Policy files (YAML), or directories of them, to validate.
    #[arg(required = true)]
    files: Vec<std::path::PathBuf>,
    /// One JSON object per file instead of text lines.
    #[arg(long)]
    json: bool,
}

/// Exit code for bad input or usage (clap uses 2 for usage errors as well).
const EXIT_BAD_INPUT: u8 = 2;
/// Exit code when the judge proves a regression, a policy is invalid or the demo went wrong.
const EXIT_FAILED: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Judge(args) => judge(args),
        Command::Check(args) => check(args),
        Command::Run(args) => canaryd::cli::run::run(args).map(|()| ExitCode::SUCCESS),
        Command::Simulate(args) => {
            let stdout = std::io::stdout();
            canaryd::cli::simulate::run(args, &mut stdout.lock()).map(|()| ExitCode::SUCCESS)
        }
        Command::Demo(args) => canaryd::cli::demo::run(args).map(|ok| {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILED)
            }
        }),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("canaryd: error: {error:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let all_valid = canaryd::cli::check::run(&args.files, args.json)?;
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

fn judge(args: &JudgeArgs) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let outcome = run_judge(args, &mut out).with_context(|| {
        format!(
            "judging canary {} against baseline {}",
            args.canary.display(),
            args.baseline.display()
        )
    })?;
    Ok(match outcome {
        Outcome::Regressed => ExitCode::from(EXIT_FAILED),
        Outcome::Safe | Outcome::Inconclusive | Outcome::NoData => ExitCode::SUCCESS,
    })
}
