//! The `canaryd` command line. Each subcommand's arguments and logic live in `canaryd::cli`.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use canaryd::cli::backtest::BacktestArgs;
use canaryd::cli::control::{Command as ControlCommand, CommandArgs as ControlArgs, StatusArgs};
use canaryd::cli::demo::DemoArgs;
use canaryd::cli::judge::{JudgeArgs, run as run_judge};
use canaryd::cli::plan::PlanArgs;
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
    /// Write a self-contained HTML evidence report of one rollout (policy, steps, decisions
    /// with their numbers, charts) for release reviews.
    ///
    /// Exit codes: 0 written, 2 unknown rollout, unreadable state database or unwritable file.
    Report(canaryd::cli::report::ReportArgs),
    /// For a request rate: how long each step needs to catch the policy's smallest regression,
    /// the expected rollout duration, and warnings for steps that cannot gather enough requests.
    ///
    /// Exit codes: 0 plan printed (warnings included), 2 bad input.
    Plan(PlanArgs),
    /// Replay a policy over an export of AmlOnlineEndpointTrafficLog (CSV or the query API's
    /// JSON) and show interval by interval what it would have decided and why.
    ///
    /// Exit codes: 0 would promote or still running at the end of the logs, 1 would roll back,
    /// 2 bad input.
    Backtest(BacktestArgs),
    /// List the daemon's rollouts (or one rollout's state and journal) through its API.
    ///
    /// Exit codes: 0 answered, 2 server unreachable, token refused or bad usage.
    Status(StatusArgs),
    /// Pause a rollout: canaryd stops moving its traffic until resumed or aborted.
    Pause(ControlArgs),
    /// Resume a paused rollout (from where the traffic is).
    Resume(ControlArgs),
    /// Move a rollout to its next phase now, whatever the minimums and the judge say.
    Promote(ControlArgs),
    /// Roll a rollout back: all live traffic to the baseline.
    Abort(ControlArgs),
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
        Command::Report(args) => canaryd::cli::report::run(args).map(|()| ExitCode::SUCCESS),
        Command::Plan(args) => {
            canaryd::cli::plan::run(args, &mut std::io::stdout().lock()).map(|()| ExitCode::SUCCESS)
        }
        Command::Backtest(args) => canaryd::cli::backtest::run(args, &mut std::io::stdout().lock())
            .map(|rolled_back| {
                if rolled_back {
                    ExitCode::from(EXIT_FAILED)
                } else {
                    ExitCode::SUCCESS
                }
            }),
        Command::Status(args) => {
            canaryd::cli::control::status(args, &mut std::io::stdout()).map(|()| ExitCode::SUCCESS)
        }
        Command::Pause(args) => control(ControlCommand::Pause, args),
        Command::Resume(args) => control(ControlCommand::Resume, args),
        Command::Promote(args) => control(ControlCommand::Promote, args),
        Command::Abort(args) => control(ControlCommand::Abort, args),
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

fn control(command: ControlCommand, args: &ControlArgs) -> anyhow::Result<ExitCode> {
    canaryd::cli::control::command(command, args, &mut std::io::stdout())
        .with_context(|| format!("{} {}", command.name(), args.rollout))?;
    Ok(ExitCode::SUCCESS)
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
