//! The end-to-end harness: an in-process emulator on a scaled clock, a private directory with a
//! daemon config and policies, and the real `canaryd` binary as a child process pointed at the
//! emulator through the environment `RunningEmulator::env()` gives. Assertions read the
//! emulator's traffic history, never the daemon's logs (those are printed on failure).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use azure_emulator::model::{Actor, ProvisioningState, TrafficChange, TrafficMap};
use azure_emulator::{Clock, EmulatorOptions, RunningEmulator, Scenario};
use time::OffsetDateTime;

pub const SUBSCRIPTION: &str = "00000000-0000-4000-8000-000000000001";
pub const RESOURCE_GROUP: &str = "canary-rg";
pub const WORKSPACE: &str = "canary-ws";
/// The emulator's default Log Analytics workspace.
pub const LA_WORKSPACE: &str = "5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11";
pub const ENDPOINT: &str = "my-ep";

/// Simulated seconds per wall second in every test.
pub const TIME_SCALE: f64 = 100.0;
/// Every wait is bounded by this much wall time.
pub const WAIT_LIMIT: Duration = Duration::from_secs(40);

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// How a deployment behaves in a test scenario.
pub struct Behaviour {
    pub median_ms: f64,
    pub error_rate_5xx: f64,
}

pub const HEALTHY: Behaviour = Behaviour {
    median_ms: 50.0,
    error_rate_5xx: 0.002,
};

/// One endpoint `ep` (blue 100%, green at 0%) at `rps`, plus any `extra` lines under
/// `endpoints:` (more endpoints). Short LROs and ingestion delay so tests run fast.
pub fn scenario(green: &Behaviour, rps: u32, lro_duration_s: u32, extra: &str) -> String {
    format!(
        r#"seed: 7
settings:
  ingestion_delay_s: 5
  retention_s: 7200
  lro_duration_s: {lro_duration_s}
endpoints:
  - name: {ENDPOINT}
    subscription: {SUBSCRIPTION}
    resource_group: {RESOURCE_GROUP}
    workspace: {WORKSPACE}
    traffic: {{blue: 100}}
    rate: {{steady: {{rps: {rps}}}}}
    deployments:
      - name: blue
        latency: {{median_ms: {blue_ms}, sigma: 0.3}}
        error_rate_5xx: {blue_err}
      - name: green
        latency: {{median_ms: {green_ms}, sigma: 0.3}}
        error_rate_5xx: {green_err}
{extra}"#,
        blue_ms = HEALTHY.median_ms,
        blue_err = HEALTHY.error_rate_5xx,
        green_ms = green.median_ms,
        green_err = green.error_rate_5xx,
    )
}

/// Plan knobs of a test policy.
pub struct PlanSpec {
    pub min_duration_s: u32,
    pub min_canary_requests: u32,
    pub interval_s: u32,
    pub source_error_grace: &'static str,
    pub bake: &'static str,
}

pub const FAST_PLAN: PlanSpec = PlanSpec {
    min_duration_s: 30,
    min_canary_requests: 100,
    interval_s: 10,
    source_error_grace: "10m",
    bake: "20s",
};

/// A policy for endpoint `endpoint`: steps 5→10→25→50→100, no early promotion, inconclusive
/// steps advance once their minimums are met, a latency shift check and a 5xx ratio check.
pub fn policy(endpoint: &str, plan: &PlanSpec) -> String {
    format!(
        r#"name: {endpoint}
target:
  subscription: {SUBSCRIPTION}
  resource_group: {RESOURCE_GROUP}
  workspace: {WORKSPACE}
  endpoint: {endpoint}
source:
  log_analytics:
    workspace_id: {LA_WORKSPACE}
    ingestion_delay: 10s
plan:
  steps: [5, 10, 25, 50, 100]
  min_duration: {min_duration}s
  min_canary_requests: {min_requests}
  interval: {interval}s
  deadline: 2h
  early_promotion: false
judge:
  checks:
    latency: {{max_increase: 0.10}}
    errors:
      - {{kind: gateway_5xx, max_ratio: 2.0}}
failure:
  source_error_grace: {grace}
  on_inconclusive: advance
after_promotion:
  bake_time: {bake}
"#,
        min_duration = plan.min_duration_s,
        min_requests = plan.min_canary_requests,
        interval = plan.interval_s,
        grace = plan.source_error_grace,
        bake = plan.bake,
    )
}

/// One test's world: emulator, directory, daemon child.
pub struct World {
    pub name: &'static str,
    pub emulator: RunningEmulator,
    pub dir: PathBuf,
    pub config_path: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl World {
    /// Starts the emulator with `scenario_yaml` on a clock scaled by [`TIME_SCALE`] from now,
    /// and writes `policies` (file name, text) and the daemon config into a fresh directory.
    pub async fn new(
        name: &'static str,
        scenario_yaml: &str,
        policies: &[(&str, String)],
    ) -> World {
        let scenario = Scenario::from_yaml_str(scenario_yaml)
            .unwrap_or_else(|e| panic!("[{name}] test scenario does not parse: {e}"));
        // The daemon's ScaledClock maps this wall instant to the same simulated time.
        let epoch = SystemTime::now();
        let emulator = azure_emulator::start(EmulatorOptions {
            clock: Clock::scaled(OffsetDateTime::from(epoch), TIME_SCALE),
            scenario: Some(scenario),
            ..EmulatorOptions::default()
        })
        .await
        .unwrap_or_else(|e| panic!("[{name}] the emulator starts: {e}"));
        let epoch_unix_s = epoch
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs_f64();
        let dir = std::env::temp_dir().join(format!(
            "canaryd-e2e-{name}-{}-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed),
            epoch_unix_s as u64
        ));
        let policies_dir = dir.join("policies");
        std::fs::create_dir_all(&policies_dir).expect("create the test directory");
        for (file, text) in policies {
            std::fs::write(policies_dir.join(file), text).expect("write a policy");
        }
        let config_path = dir.join("canaryd.toml");
        let config = format!(
            "policies_dir = {:?}\nstate_db = {:?}\nlisten = \"127.0.0.1:0\"\n\n[clock]\ntime_scale = {TIME_SCALE:?}\nepoch_unix_s = {epoch_unix_s:?}\n",
            policies_dir.display().to_string(),
            dir.join("state.db").display().to_string(),
        );
        std::fs::write(&config_path, config).expect("write the config");
        World {
            name,
            emulator,
            dir,
            config_path,
            child: None,
            starts: 0,
        }
    }

    pub fn policies_dir(&self) -> PathBuf {
        self.dir.join("policies")
    }

    /// Spawns `canaryd run --config …` with the emulator's environment; stderr goes to a file
    /// per start (printed when the test fails).
    pub fn start_daemon(&mut self) {
        assert!(
            self.child.is_none(),
            "[{}] daemon already running",
            self.name
        );
        self.starts += 1;
        let log = std::fs::File::create(self.dir.join(format!("daemon-{}.log", self.starts)))
            .expect("create the daemon log");
        let child = Command::new(env!("CARGO_BIN_EXE_canaryd"))
            .args(["run", "--config"])
            .arg(&self.config_path)
            .envs(self.emulator.env())
            .env("CANARYD_LOG", "canaryd=debug")
            .env_remove("CANARYD_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("[{}] spawn canaryd: {e}", self.name));
        self.child = Some(child);
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill_daemon(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The daemon's stderr so far (every start).
    pub fn daemon_logs(&self) -> String {
        let mut all = String::new();
        for start in 1..=self.starts {
            let path = self.dir.join(format!("daemon-{start}.log"));
            all.push_str(&format!("----- {} -----\n", path.display()));
            all.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
        all
    }

    /// Fails the test with the history and the daemon's logs.
    pub fn fail(&self, what: &str) -> ! {
        let history: Vec<String> = self.history().iter().map(describe).collect();
        panic!(
            "[{}] {what}\ntraffic history:\n  {}\ndaemon stderr:\n{}\n(test directory: {})",
            self.name,
            history.join("\n  "),
            tail(&self.daemon_logs(), 400),
            self.dir.display()
        );
    }

    /// The emulator's traffic history of `ep` (operations due by now settled first).
    pub fn history(&self) -> Vec<TrafficChange> {
        self.history_of(ENDPOINT)
    }

    pub fn history_of(&self, endpoint: &str) -> Vec<TrafficChange> {
        azure_emulator::arm::settle_operations(&self.emulator.state);
        self.emulator
            .state
            .world()
            .history
            .iter()
            .filter(|c| c.endpoint == endpoint)
            .cloned()
            .collect()
    }

    /// True while an update of `ep` is in flight.
    pub fn updating(&self) -> bool {
        let world = self.emulator.state.world();
        world
            .key_by_name(ENDPOINT)
            .and_then(|key| world.endpoint(&key))
            .is_some_and(|ep| ep.provisioning_state == ProvisioningState::Updating)
    }

    /// Simulated time now.
    pub fn now(&self) -> OffsetDateTime {
        self.emulator.state.now()
    }

    /// Polls `done` (every 10 ms of wall time) until it holds; fails after [`WAIT_LIMIT`] or
    /// when the daemon exits.
    pub async fn wait_for(&mut self, what: &str, mut done: impl FnMut(&World) -> bool) {
        let started = Instant::now();
        loop {
            if done(self) {
                return;
            }
            self.check_alive();
            if started.elapsed() > WAIT_LIMIT {
                self.fail(&format!(
                    "timed out after {WAIT_LIMIT:?} waiting for {what}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Lets `simulated` time pass (wall sleep scaled down).
    pub async fn pass(&self, simulated: Duration) {
        tokio::time::sleep(simulated.div_f64(TIME_SCALE)).await;
    }

    /// Fails if the daemon has exited.
    pub fn check_alive(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            let status = status.to_string();
            self.child = None;
            self.fail(&format!("the daemon exited unexpectedly ({status})"));
        }
    }

    pub async fn inject(&self, fault: serde_json::Value) {
        let fault: azure_emulator::faults::Fault = serde_json::from_value(fault.clone())
            .unwrap_or_else(|e| panic!("[{}] bad test fault {fault}: {e}", self.name));
        self.emulator
            .state
            .inject_fault(&fault)
            .unwrap_or_else(|e| panic!("[{}] inject fault: {e}", self.name));
    }

    pub fn clear_faults(&self) {
        *self.emulator.state.faults() = Default::default();
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.kill_daemon();
        // E2E_KEEP_DIRS=1 keeps every test's directory (config, policies, db, daemon logs).
        if !std::thread::panicking() && std::env::var_os("E2E_KEEP_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Green's live percent after a change.
pub fn green(change: &TrafficChange) -> u32 {
    change.new_traffic.get("green").copied().unwrap_or(0)
}

/// The changes canaryd made (through ARM).
pub fn by_daemon(history: &[TrafficChange]) -> Vec<&TrafficChange> {
    history.iter().filter(|c| c.actor == Actor::Arm).collect()
}

/// True when the split sums to 100 over blue and green only (or is empty).
pub fn whole(map: &TrafficMap) -> bool {
    let sum: u32 = map.values().sum();
    sum == 100 && map.keys().all(|k| k == "blue" || k == "green")
}

pub fn describe(change: &TrafficChange) -> String {
    format!(
        "{} {:?}: {:?} -> {:?} (mirror {:?})",
        change.at, change.actor, change.old_traffic, change.new_traffic, change.new_mirror_traffic
    )
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `canaryd check FILES…`; (exit code, stdout).
pub fn check(files: &[&Path]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_canaryd"))
        .arg("check")
        .args(files)
        .output()
        .expect("run canaryd check");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}
