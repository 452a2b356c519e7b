//! Rollout policies: one YAML file per endpoint, parsed strictly (unknown fields are errors),
//! defaulted for a demanding user, and validated with `file:line:column: message — fix: …`
//! errors. See `daemon/docs/policy.md` for every field and rule, and `policies/` for examples.
//!
//! One bad file never stops the others: [`load_dir`] returns each file's result separately.

pub mod duration;
pub mod locate;
mod validate;
pub mod windows;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::judge::JudgeSpec;
use crate::model::EndpointRef;
use duration::{serde_duration, serde_opt_duration};
pub use windows::{CronWindow, PromotionWindows, WindowBlock, WindowTimezone};

/// A validated rollout policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// `name:` in the file, else the file stem. Unique across the policies directory.
    pub name: String,
    pub path: PathBuf,
    /// sha256 (hex) of the file's bytes; journaled with every decision.
    pub content_hash: String,
    pub target: EndpointRef,
    pub baseline: DeploymentSelector,
    pub canary: DeploymentSelector,
    pub source: SourceSpec,
    pub plan: Plan,
    pub judge: JudgeSpec,
    pub failure: FailurePolicy,
    pub after_promotion: AfterPromotion,
}

/// Which deployment plays a role. In YAML: `auto` (default) or a deployment name; a
/// deployment literally named `auto` is written `{ deployment: auto }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DeploymentSelector {
    /// Baseline: the deployment serving all live traffic. Canary: a new deployment in state
    /// Succeeded with no traffic and no mirror.
    #[default]
    Auto,
    Named(String),
}

impl DeploymentSelector {
    pub fn name(&self) -> Option<&str> {
        match self {
            DeploymentSelector::Auto => None,
            DeploymentSelector::Named(name) => Some(name),
        }
    }
}

impl fmt::Display for DeploymentSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeploymentSelector::Auto => f.write_str("auto"),
            DeploymentSelector::Named(name) => f.write_str(name),
        }
    }
}

impl Serialize for DeploymentSelector {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            DeploymentSelector::Auto => serializer.serialize_str("auto"),
            DeploymentSelector::Named(name) => {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("deployment", name)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for DeploymentSelector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SelectorVisitor;
        impl<'de> Visitor<'de> for SelectorVisitor {
            type Value = DeploymentSelector;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`auto`, a deployment name, or `{ deployment: NAME }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DeploymentSelector, E> {
                Ok(match v.trim() {
                    "auto" => DeploymentSelector::Auto,
                    name => DeploymentSelector::Named(name.to_string()),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DeploymentSelector, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Named {
                    deployment: String,
                }
                let named = Named::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(DeploymentSelector::Named(
                    named.deployment.trim().to_string(),
                ))
            }
        }
        deserializer.deserialize_any(SelectorVisitor)
    }
}

/// Where the metrics come from. In YAML, a mapping with one key: `log_analytics:` or
/// `azure_monitor:` (serde_yaml_ng reads externally tagged enums only from `!tags`, so the
/// mapping form is deserialized by hand).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceSpec {
    /// Request logs (AmlOnlineEndpointTrafficLog) in a Log Analytics workspace.
    LogAnalytics {
        /// The workspace's id (a GUID, "Workspace ID" / customerId in the portal).
        workspace_id: String,
        /// Windows end this long before now so late-ingested rows are not missed.
        #[serde(with = "serde_duration", default = "default_la_ingestion_delay")]
        ingestion_delay: Duration,
        /// A KQL query replacing the default (see the column contract in docs/policy.md).
        #[serde(default)]
        query: Option<String>,
    },
    /// Azure Monitor platform metrics of the endpoint (per minute; Kayenta judge only).
    AzureMonitor {
        #[serde(with = "serde_duration", default = "default_am_ingestion_delay")]
        ingestion_delay: Duration,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum SourceKind {
    LogAnalytics,
    AzureMonitor,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogAnalyticsFields {
    workspace_id: String,
    #[serde(with = "serde_duration", default = "default_la_ingestion_delay")]
    ingestion_delay: Duration,
    #[serde(default)]
    query: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AzureMonitorFields {
    #[serde(with = "serde_duration", default = "default_am_ingestion_delay")]
    ingestion_delay: Duration,
}

impl<'de> Deserialize<'de> for SourceSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SourceVisitor;
        impl<'de> Visitor<'de> for SourceVisitor {
            type Value = SourceSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping with one key, `log_analytics` or `azure_monitor`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SourceSpec, A::Error> {
                let Some(kind) = map.next_key::<SourceKind>()? else {
                    return Err(de::Error::custom(
                        "no metrics source given: expected `log_analytics` or `azure_monitor`",
                    ));
                };
                let spec = match kind {
                    SourceKind::LogAnalytics => {
                        let fields: LogAnalyticsFields = map.next_value()?;
                        SourceSpec::LogAnalytics {
                            workspace_id: fields.workspace_id.trim().to_string(),
                            ingestion_delay: fields.ingestion_delay,
                            query: fields.query,
                        }
                    }
                    SourceKind::AzureMonitor => {
                        let fields: Option<AzureMonitorFields> = map.next_value()?;
                        SourceSpec::AzureMonitor {
                            ingestion_delay: fields
                                .map_or(DEFAULT_AZURE_MONITOR_INGESTION_DELAY, |f| {
                                    f.ingestion_delay
                                }),
                        }
                    }
                };
                if map.next_key::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom(
                        "more than one metrics source: give either `log_analytics` or `azure_monitor`",
                    ));
                }
                Ok(spec)
            }
        }
        deserializer.deserialize_map(SourceVisitor)
    }
}

pub const DEFAULT_LOG_ANALYTICS_INGESTION_DELAY: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_AZURE_MONITOR_INGESTION_DELAY: Duration = Duration::from_secs(3 * 60);

fn default_la_ingestion_delay() -> Duration {
    DEFAULT_LOG_ANALYTICS_INGESTION_DELAY
}
fn default_am_ingestion_delay() -> Duration {
    DEFAULT_AZURE_MONITOR_INGESTION_DELAY
}

impl SourceSpec {
    pub fn ingestion_delay(&self) -> Duration {
        match self {
            SourceSpec::LogAnalytics {
                ingestion_delay, ..
            }
            | SourceSpec::AzureMonitor { ingestion_delay } => *ingestion_delay,
        }
    }

    /// `log_analytics` or `azure_monitor`, as in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::LogAnalytics { .. } => "log_analytics",
            SourceSpec::AzureMonitor { .. } => "azure_monitor",
        }
    }
}

/// The rollout plan, defaults resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub shadow: Option<ShadowPhase>,
    /// Strictly increasing, each in 1..=100, the last exactly 100 (the promotion).
    pub steps: Vec<Step>,
    /// How often the canary is judged (one closed metrics window per interval).
    #[serde(with = "serde_duration")]
    pub interval: Duration,
    /// Overall limit from the start of the rollout; past it an unfinished rollout rolls back.
    #[serde(with = "serde_duration")]
    pub deadline: Duration,
    /// Advance before a step's min duration when the judge proves the canary Safe (the
    /// step's `min_canary_requests` still apply).
    pub early_promotion: bool,
    /// Which traffic increases wait for a manual promote.
    #[serde(default)]
    pub gates: Gates,
    /// When traffic may increase; `None`: at any time.
    #[serde(default)]
    pub promotion_windows: Option<PromotionWindows>,
}

/// `plan.gates`: traffic increases that wait for an operator's `canaryd promote`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Gates {
    pub confirm: GateConfirm,
    /// How long a gate waits for approval before `on_timeout` (`never`: indefinitely).
    #[serde(with = "serde_opt_duration")]
    pub timeout: Option<Duration>,
    pub on_timeout: GateTimeoutAction,
}

pub const DEFAULT_GATE_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

impl Default for Gates {
    fn default() -> Self {
        Gates {
            confirm: GateConfirm::None,
            timeout: Some(DEFAULT_GATE_TIMEOUT),
            on_timeout: GateTimeoutAction::RollBack,
        }
    }
}

/// Which increases of the canary's live traffic need approval. Only increases are gated: the
/// start (the operator or the runner starts it), the bake and the end are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateConfirm {
    /// No gate: the judge's verdict moves traffic.
    #[default]
    None,
    /// The increase that brings live traffic to 100% on the canary.
    Final,
    /// Every increase of live traffic after the start (shadow → step 1, each next step).
    EveryStep,
}

/// What a gate does when nobody approved it within `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateTimeoutAction {
    /// All live traffic back to the baseline.
    #[serde(alias = "rollback")]
    RollBack,
    /// Keep waiting for a promote (or an abort); the overdue wait is reported once.
    Hold,
    /// Make the increase as if approved (promotion windows still apply).
    Advance,
}

/// Optional first phase: the canary gets a mirrored copy of live traffic (responses dropped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowPhase {
    /// Percent of live traffic mirrored to the canary, 1..=50 (Azure's limit).
    #[serde(rename = "mirror")]
    pub mirror_percent: u32,
    #[serde(with = "serde_duration")]
    pub duration: Duration,
    pub min_canary_requests: u64,
}

/// One traffic step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Percent of live traffic on the canary.
    #[serde(rename = "traffic")]
    pub traffic_percent: u32,
    /// Stay at least this long (unless promoted early).
    #[serde(with = "serde_duration")]
    pub min_duration: Duration,
    /// Do not leave the step before the canary has served this many requests in it.
    pub min_canary_requests: u64,
}

impl Plan {
    /// The shortest a rollout can take without early promotion: shadow + every step's
    /// minimum duration. The deadline must not be shorter.
    pub fn minimum_total(&self) -> Duration {
        self.shadow.as_ref().map_or(Duration::ZERO, |s| s.duration)
            + self.steps.iter().map(|s| s.min_duration).sum::<Duration>()
    }

    /// `5→10→25→50→100` (with `shadow 10%→` in front when there is a shadow phase).
    pub fn describe_steps(&self) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| s.traffic_percent.to_string())
            .collect();
        match &self.shadow {
            Some(shadow) => format!("shadow {}%→{}", shadow.mirror_percent, steps.join("→")),
            None => steps.join("→"),
        }
    }
}

/// What happens when things do not go to plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailurePolicy {
    /// On metrics source errors hold traffic where it is; after this long of continuous
    /// errors, roll back.
    #[serde(with = "serde_duration")]
    pub source_error_grace: Duration,
    /// At the end of a step's min duration with the judge still Inconclusive.
    pub on_inconclusive: InconclusiveAction,
    /// After holding this long past the min duration, apply `on_inconclusive_timeout`
    /// (`never`: hold until the deadline).
    #[serde(with = "serde_opt_duration")]
    pub inconclusive_limit: Option<Duration>,
    pub on_inconclusive_timeout: InconclusiveAction,
}

pub const DEFAULT_SOURCE_ERROR_GRACE: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_INCONCLUSIVE_LIMIT: Duration = Duration::from_secs(30 * 60);

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            source_error_grace: DEFAULT_SOURCE_ERROR_GRACE,
            on_inconclusive: InconclusiveAction::Advance,
            inconclusive_limit: Some(DEFAULT_INCONCLUSIVE_LIMIT),
            on_inconclusive_timeout: InconclusiveAction::RollBack,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InconclusiveAction {
    /// Stay on the step and keep judging.
    Hold,
    /// Move to the next step (the judge found no regression, only no proof of safety).
    Advance,
    #[serde(alias = "rollback")]
    RollBack,
}

/// After the canary reaches 100%: the baseline is set to 0% and kept (not deleted) this long,
/// so a rollback stays one traffic change away.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AfterPromotion {
    #[serde(with = "serde_duration")]
    pub bake_time: Duration,
}

pub const DEFAULT_BAKE_TIME: Duration = Duration::from_secs(30 * 60);

impl Default for AfterPromotion {
    fn default() -> Self {
        AfterPromotion {
            bake_time: DEFAULT_BAKE_TIME,
        }
    }
}

// Plan defaults (see docs/policy.md for why).
pub const DEFAULT_STEPS: [u32; 5] = [5, 10, 25, 50, 100];
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_MIN_DURATION: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_MIN_CANARY_REQUESTS: u64 = 200;
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(4 * 3600);

/// A policy that could not be loaded: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    pub path: PathBuf,
    /// 1-based line and column; `None` when the file could not be read.
    pub position: Option<(usize, usize)>,
    /// The key path, e.g. `plan.steps[2].traffic` (empty for syntax and read errors).
    pub field: String,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {} — fix: {}", self.message, self.fix)
    }
}

impl PolicyError {
    pub fn line(&self) -> Option<usize> {
        self.position.map(|(line, _)| line)
    }
    pub fn column(&self) -> Option<usize> {
        self.position.map(|(_, column)| column)
    }
}

/// The file as written (plan defaults unresolved).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    name: Option<String>,
    target: TargetFile,
    #[serde(default)]
    baseline: DeploymentSelector,
    #[serde(default)]
    canary: DeploymentSelector,
    source: SourceSpec,
    #[serde(default)]
    plan: PlanFile,
    #[serde(default)]
    judge: JudgeSpec,
    #[serde(default)]
    failure: FailurePolicy,
    #[serde(default)]
    after_promotion: AfterPromotion,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    subscription: String,
    resource_group: String,
    workspace: String,
    endpoint: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct PlanFile {
    shadow: Option<ShadowFile>,
    steps: Vec<StepFile>,
    #[serde(with = "serde_duration")]
    interval: Duration,
    #[serde(with = "serde_duration")]
    deadline: Duration,
    early_promotion: bool,
    /// Default for every step that gives none.
    #[serde(with = "serde_duration")]
    min_duration: Duration,
    /// Default for every step (and the shadow phase) that gives none.
    min_canary_requests: u64,
    gates: Gates,
    promotion_windows: Option<windows::WindowsFile>,
}

impl Default for PlanFile {
    fn default() -> Self {
        PlanFile {
            shadow: None,
            steps: DEFAULT_STEPS
                .iter()
                .map(|t| StepFile::Traffic(*t))
                .collect(),
            interval: DEFAULT_INTERVAL,
            deadline: DEFAULT_DEADLINE,
            early_promotion: true,
            min_duration: DEFAULT_MIN_DURATION,
            min_canary_requests: DEFAULT_MIN_CANARY_REQUESTS,
            gates: Gates::default(),
            promotion_windows: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShadowFile {
    mirror: u32,
    #[serde(with = "serde_duration")]
    duration: Duration,
    #[serde(default)]
    min_canary_requests: Option<u64>,
}

/// A step: a bare percentage (`- 25`) or a mapping.
#[derive(Debug)]
enum StepFile {
    Traffic(u32),
    Full(StepFields),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFields {
    traffic: u32,
    #[serde(default, with = "serde_opt_duration")]
    min_duration: Option<Duration>,
    #[serde(default)]
    min_canary_requests: Option<u64>,
}

impl<'de> Deserialize<'de> for StepFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StepVisitor;
        impl<'de> Visitor<'de> for StepVisitor {
            type Value = StepFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a traffic percentage such as 25, or `{ traffic: 25, min_duration: 10m }`",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StepFile, E> {
                u32::try_from(v)
                    .map(StepFile::Traffic)
                    .map_err(|_| E::custom(format!("{v}% is not a percentage")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StepFile, E> {
                Err(E::custom(format!(
                    "{v}% is not a traffic percentage (steps are 1 to 100)"
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<StepFile, E> {
                Err(E::custom(format!(
                    "{v}% is not a whole percentage (Azure splits traffic in whole percents)"
                )))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StepFile, A::Error> {
                StepFields::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(StepFile::Full)
            }
        }
        deserializer.deserialize_any(StepVisitor)
    }
}

impl PlanFile {
    /// Defaults filled in; cron expressions and the timezone parsed (a problem names the
    /// element at fault, e.g. `plan.promotion_windows.allow[1]`).
    fn resolve(self) -> Result<Plan, validate::Problem> {
        let promotion_windows = self
            .promotion_windows
            .map(windows::WindowsFile::resolve)
            .transpose()?;
        let steps = self
            .steps
            .into_iter()
            .map(|step| match step {
                StepFile::Traffic(traffic) => Step {
                    traffic_percent: traffic,
                    min_duration: self.min_duration,
                    min_canary_requests: self.min_canary_requests,
                },
                StepFile::Full(fields) => Step {
                    traffic_percent: fields.traffic,
                    min_duration: fields.min_duration.unwrap_or(self.min_duration),
                    min_canary_requests: fields
                        .min_canary_requests
                        .unwrap_or(self.min_canary_requests),
                },
            })
            .collect();
        Ok(Plan {
            shadow: self.shadow.map(|shadow| ShadowPhase {
                mirror_percent: shadow.mirror,
                duration: shadow.duration,
                min_canary_requests: shadow
                    .min_canary_requests
                    .unwrap_or(self.min_canary_requests),
            }),
            steps,
            interval: self.interval,
            deadline: self.deadline,
            early_promotion: self.early_promotion,
            gates: self.gates,
            promotion_windows,
        })
    }
}

/// sha256 (lower-case hex) of `bytes`.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads, parses and validates one policy file.
pub fn load_file(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|error| PolicyError {
        path: path.to_path_buf(),
        position: None,
        field: String::new(),
        message: format!("cannot read the policy file: {error}"),
        fix: "check the path and its permissions".into(),
    })?;
    let text = String::from_utf8(bytes).map_err(|error| PolicyError {
        path: path.to_path_buf(),
        position: None,
        field: String::new(),
        message: format!("the file is not UTF-8: {error}"),
        fix: "save the policy as UTF-8 text".into(),
    })?;
    parse_str(&text, path)
}

/// Parses and validates a policy given as text; `path` names it in errors (and its stem is
/// the default name). The content hash is that of `text`'s bytes.
pub fn parse_str(text: &str, path: &Path) -> Result<Policy, PolicyError> {
    let file: PolicyFile =
        serde_yaml_ng::from_str(text).map_err(|error| syntax_error(path, text, &error))?;
    let name = match &file.name {
        Some(name) => name.trim().to_string(),
        None => path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| "policy".into()),
    };
    let policy = Policy {
        name,
        path: path.to_path_buf(),
        content_hash: content_hash(text.as_bytes()),
        target: EndpointRef {
            subscription: file.target.subscription.trim().to_string(),
            resource_group: file.target.resource_group.trim().to_string(),
            workspace: file.target.workspace.trim().to_string(),
            endpoint: file.target.endpoint.trim().to_string(),
        },
        baseline: file.baseline,
        canary: file.canary,
        source: file.source,
        plan: file
            .plan
            .resolve()
            .map_err(|problem| located_error(path, text, problem))?,
        judge: file.judge,
        failure: file.failure,
        after_promotion: file.after_promotion,
    };
    validate::validate(&policy, file.name.is_some())
        .map_err(|problem| located_error(path, text, problem))?;
    Ok(policy)
}

/// A semantic problem as an error at its field's exact position (or its fallback's, or the
/// nearest ancestor's).
fn located_error(path: &Path, text: &str, problem: validate::Problem) -> PolicyError {
    let position = locate::locate_exact(text, &problem.field)
        .or_else(|| problem.fallback.and_then(|f| locate::locate_exact(text, f)));
    let mut error = semantic_error(path, text, &problem.field, problem.message, problem.fix);
    if position.is_some() {
        error.position = position;
    }
    error
}

/// Loads every `*.yaml` / `*.yml` file of `dir` (sorted by name), each result separately.
/// A target or name already used by an earlier valid file makes the later file an error.
/// An unreadable directory gives one entry: the directory and its error.
pub fn load_dir(dir: impl AsRef<Path>) -> Vec<(PathBuf, Result<Policy, PolicyError>)> {
    let dir = dir.as_ref();
    match policy_files(dir) {
        Ok(paths) => load_files(&paths),
        Err(error) => vec![(dir.to_path_buf(), Err(error))],
    }
}

/// The `*.yaml` / `*.yml` files of `dir`, sorted by name.
pub fn policy_files(dir: &Path) -> Result<Vec<PathBuf>, PolicyError> {
    let entries = std::fs::read_dir(dir).map_err(|error| PolicyError {
        path: dir.to_path_buf(),
        position: None,
        field: String::new(),
        message: format!("cannot read the policies directory: {error}"),
        fix: "create it, or set policies_dir in the daemon config".into(),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.is_file()
                && matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                )
        })
        .collect();
    paths.sort();
    Ok(paths)
}

/// Loads the given files in order, each result separately; like [`load_dir`], a target or
/// name already used by an earlier valid file makes the later file an error.
pub fn load_files(paths: &[PathBuf]) -> Vec<(PathBuf, Result<Policy, PolicyError>)> {
    let mut targets: BTreeMap<(String, String, String, String), PathBuf> = BTreeMap::new();
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut results = Vec::with_capacity(paths.len());
    for path in paths {
        let result = load_file(path).and_then(|policy| {
            let target = &policy.target;
            // Azure resource names are case-insensitive.
            let key = (
                target.subscription.to_ascii_lowercase(),
                target.resource_group.to_ascii_lowercase(),
                target.workspace.to_ascii_lowercase(),
                target.endpoint.to_ascii_lowercase(),
            );
            if let Some(earlier) = targets.get(&key) {
                return Err(duplicate_error(
                    &policy,
                    "target",
                    format!(
                        "endpoint {} is already targeted by {}",
                        policy.target,
                        earlier.display()
                    ),
                    "keep one policy per endpoint: merge the two files or remove one",
                ));
            }
            if let Some(earlier) = names.get(&policy.name) {
                return Err(duplicate_error(
                    &policy,
                    "name",
                    format!(
                        "policy name '{}' is already used by {}",
                        policy.name,
                        earlier.display()
                    ),
                    "give each policy a unique `name:` (or rename the file)",
                ));
            }
            targets.insert(key, policy.path.clone());
            names.insert(policy.name.clone(), policy.path.clone());
            Ok(policy)
        });
        results.push((path.clone(), result));
    }
    results
}

fn duplicate_error(policy: &Policy, field: &str, message: String, fix: &str) -> PolicyError {
    let text = std::fs::read_to_string(&policy.path).unwrap_or_default();
    semantic_error(&policy.path, &text, field, message, fix.to_string())
}

fn semantic_error(
    path: &Path,
    text: &str,
    field: &str,
    message: String,
    fix: String,
) -> PolicyError {
    PolicyError {
        path: path.to_path_buf(),
        position: locate::locate(text, field).or(Some((1, 1))),
        field: field.to_string(),
        message: format!("{field}: {message}"),
        fix,
    }
}

fn syntax_error(path: &Path, text: &str, error: &serde_yaml_ng::Error) -> PolicyError {
    let full = error.to_string();
    // serde_yaml_ng appends " at line L column C"; the position goes in front instead.
    let message = match full.rfind(" at line ") {
        Some(at) => full[..at].to_string(),
        None => full.clone(),
    };
    let position = error
        .location()
        .map(|l| (l.line(), l.column()))
        .or_else(|| (!text.trim().is_empty()).then_some((1, 1)));
    let message = if text.trim().is_empty() {
        "the file is empty".to_string()
    } else {
        message
    };
    let fix = fix_for_serde_message(&message);
    PolicyError {
        path: path.to_path_buf(),
        position,
        field: String::new(),
        message,
        fix,
    }
}

/// A fix for serde's own messages (unknown field, missing field, wrong type).
fn fix_for_serde_message(message: &str) -> String {
    let quoted = |after: &str| -> Option<String> {
        let start = message.find(after)? + after.len();
        let rest = &message[start..];
        let end = rest.find('`')?;
        Some(rest[..end].to_string())
    };
    if message.contains("unknown field") {
        let field = quoted("unknown field `").unwrap_or_default();
        let expected = message
            .find("expected ")
            .map(|i| message[i..].to_string())
            .unwrap_or_default();
        return format!("remove `{field}` or correct its spelling ({expected})");
    }
    if message.contains("unknown variant") {
        let expected = message
            .find("expected ")
            .map(|i| message[i..].to_string())
            .unwrap_or_default();
        return format!("use a known value ({expected})");
    }
    if message.contains("missing field") {
        let field = quoted("missing field `").unwrap_or_default();
        return format!("add `{field}` (see policies/default.yaml and daemon/docs/policy.md)");
    }
    if message.contains("no unit") || message.contains("not a duration") {
        return "write durations with a unit: 30s, 5m, 1h30m, 1d or PT5M".into();
    }
    if message.contains("invalid type") {
        return "give a value of the type named (see daemon/docs/policy.md)".into();
    }
    if message.contains("the file is empty") {
        return "write a policy (start from policies/default.yaml)".into();
    }
    "fix the YAML at this position (see daemon/docs/policy.md)".into()
}
