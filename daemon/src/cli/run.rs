//! `canaryd run --config FILE` and `canaryd check FILE…`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::clock::{ScaledClock, SharedClock, SystemClock};
use crate::config::{DaemonConfig, LogFormat};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Daemon config (TOML); `CANARYD_*` environment variables override it.
    #[arg(long, short = 'c', env = "CANARYD_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Loads the config, sets up logging and runs the daemon until SIGTERM or Ctrl-C.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let config =
        DaemonConfig::load(args.config.as_deref()).with_context(|| match &args.config {
            Some(path) => format!("loading the config {}", path.display()),
            None => "loading the configuration from the environment".to_string(),
        })?;
    init_logging(config.log_format, "info");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let clock = clock_from_config(&config);
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| {
                format!(
                    "listening on {} (`listen` in the config or CANARYD_LISTEN); fix: free the port or choose another address",
                    config.listen
                )
            })?;
        crate::server::run_daemon(
            config,
            clock,
            listener,
            shutdown_signal(),
            crate::runner::RunnerOptions::default(),
        )
        .await
    })
}

/// The configured clock: real time unless `[clock]` compresses it (demos and tests).
pub fn clock_from_config(config: &DaemonConfig) -> SharedClock {
    let scale = config.clock.time_scale;
    match config.clock.epoch_unix_s {
        Some(epoch) => Arc::new(ScaledClock::from_unix(epoch, scale)),
        None if (scale - 1.0).abs() > f64::EPSILON => {
            Arc::new(ScaledClock::new(std::time::SystemTime::now(), scale))
        }
        None => Arc::new(SystemClock),
    }
}

/// `RUST_LOG`-style filter from `CANARYD_LOG` (else `default_filter`), text or JSON lines on
/// stderr.
pub fn init_logging(format: LogFormat, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CANARYD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // try_init: a second call (tests, the demo) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, stopping"),
        () = terminate => tracing::info!("SIGTERM received, stopping"),
    }
}
