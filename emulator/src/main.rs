//! `azure-emulator --scenario FILE [--listen ADDR] [--time-scale N] [--manual-clock] [--seed S]`
//!
//! Serves the emulated Azure on loopback, prints the environment a client needs as
//! `export NAME=value` lines, and runs until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use azure_emulator::{Clock, EmulatorOptions, Scenario};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "azure-emulator",
    version,
    about = "A loopback Azure for canaryd"
)]
struct Args {
    /// Scenario file (YAML); see emulator/docs/scenario.md.
    #[arg(long, env = "AZURE_EMULATOR_SCENARIO")]
    scenario: PathBuf,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Simulated seconds per wall second (60 = an hour of traffic per minute).
    #[arg(long, default_value_t = 1.0, conflicts_with = "manual_clock")]
    time_scale: f64,
    /// Simulated time moves only through `POST /_emulator/clock/advance`.
    #[arg(long)]
    manual_clock: bool,
    /// Overrides the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        eprintln!(
            "azure-emulator: --time-scale {} is not a positive number; fix: pass e.g. 1 or 60",
            args.time_scale
        );
        return ExitCode::from(2);
    }
    let mut scenario = match Scenario::from_file(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("azure-emulator: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("azure-emulator: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args, scenario))
}

async fn run(args: Args, scenario: Scenario) -> ExitCode {
    let start = time::OffsetDateTime::now_utc();
    let clock = if args.manual_clock {
        Clock::manual(start)
    } else {
        Clock::scaled(start, args.time_scale)
    };
    let options = EmulatorOptions {
        listen: args.listen,
        clock,
        scenario: Some(scenario),
        identity_header: None,
    };
    let emulator = match azure_emulator::start(options).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            eprintln!("azure-emulator: {}: {e}", args.scenario.display());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("azure-emulator: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    println!("# azure-emulator listening on {}", emulator.base_url());
    for (name, value) in emulator.env() {
        println!("export {name}={value}");
    }
    tracing::info!(
        base_url = %emulator.base_url(),
        time_scale = args.time_scale,
        manual_clock = args.manual_clock,
        "emulator running; Ctrl-C or SIGTERM stops it"
    );
    wait_for_shutdown().await;
    tracing::info!("stopping");
    emulator.stop().await;
    ExitCode::SUCCESS
}

async fn wait_for_shutdown() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
