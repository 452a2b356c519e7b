//! A loopback Azure for canaryd: the managed-identity token endpoint, ARM online endpoints and
//! deployments with long-running operations, the Log Analytics query API over an emulated
//! `AmlOnlineEndpointTrafficLog`, the Azure Monitor metrics API, synthetic traffic that follows
//! the live split, and faults on demand. One listener serves all of them; see README.md.

pub mod arm;
pub mod clock;
pub mod control;
pub mod faults;
pub mod generator;
pub mod identity;
pub mod kql;
pub mod loganalytics;
pub mod logstore;
pub mod metrics;
pub mod model;
pub mod scenario;
pub mod server;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

pub use clock::Clock;
pub use scenario::Scenario;
pub use state::EmulatorState;

/// Token audiences (resource URIs, without `/.default`) the emulator issues tokens for.
pub const ARM_RESOURCE: &str = "https://management.azure.com";
pub const LOG_ANALYTICS_RESOURCE: &str = "https://api.loganalytics.io";

/// Path of the managed-identity endpoint under the base URL.
pub const IDENTITY_PATH: &str = "/msi/token";

pub struct EmulatorOptions {
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    pub clock: Clock,
    pub scenario: Option<Scenario>,
    /// The `IDENTITY_HEADER` secret; a random one when `None`.
    pub identity_header: Option<String>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            clock: Clock::real(),
            scenario: None,
            identity_header: None,
        }
    }
}

/// A started emulator. Dropping it stops the listener and the traffic generator.
pub struct RunningEmulator {
    pub addr: SocketAddr,
    pub state: Arc<EmulatorState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningEmulator {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The environment a client needs, in the order it is printed.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let base = self.base_url();
        vec![
            ("IDENTITY_ENDPOINT", format!("{base}{IDENTITY_PATH}")),
            ("IDENTITY_HEADER", self.state.identity_header.clone()),
            ("CANARYD_AZURE__ARM_BASE_URL", base.clone()),
            ("CANARYD_AZURE__LOG_ANALYTICS_BASE_URL", base.clone()),
            ("CANARYD_AZURE__METRICS_BASE_URL", base),
        ]
    }

    /// Stops serving and generating.
    pub async fn stop(mut self) {
        self.shutdown_now();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

/// Binds the listener, loads the scenario (if any) and starts the traffic generator.
pub async fn start(options: EmulatorOptions) -> std::io::Result<RunningEmulator> {
    let identity_header = options
        .identity_header
        .unwrap_or_else(identity::random_secret);
    let state = Arc::new(EmulatorState::new(options.clock, identity_header));
    if let Some(scenario) = options.scenario {
        scenario
            .load_into(&state)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    }
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = server::router(state.clone());
    let serve = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    let generate = generator::spawn(state.clone());
    Ok(RunningEmulator {
        addr,
        state,
        shutdown: Some(tx),
        tasks: vec![serve, generate],
    })
}
