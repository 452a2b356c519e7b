//! `canaryd judge --policy FILE --baseline FILE --canary FILE [--json]`: judges two files of
//! request samples as one look with the policy's `judge:` section, and prints a table (or JSON)
//! with every check's verdict and numbers.
//!
//! Exit codes (see `daemon/docs/judge.md`): 0 the canary is not proven worse (Safe,
//! Inconclusive or NoData — a hold is not a failure), 1 Regressed, 2 bad input or usage.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::input::{InputError, read_samples};
use crate::judge::histogram::LogBuckets;
use crate::judge::observation::Observation;
use crate::judge::spec::{JudgeSpec, SpecError};
use crate::judge::verdict::{CheckResult, Outcome, Verdict};
use crate::judge::{JudgeState, evaluate};

/// Buckets for raw samples: 0.1 ms to ~44 000 s in 1% steps (2,000 bins).
pub const CLI_BUCKET_MIN_MS: f64 = 0.1;
pub const CLI_BUCKET_GROWTH: f64 = 1.01;
pub const CLI_BUCKET_COUNT: usize = 2000;

#[derive(Debug, Clone, Args)]
pub struct JudgeArgs {
    /// Policy file (YAML); its `judge:` section is used, other top-level sections are ignored.
    #[arg(long)]
    pub policy: PathBuf,
    /// Baseline requests: CSV with header `latency_ms[,status_code][,model_status_code]`, or JSON lines.
    #[arg(long)]
    pub baseline: PathBuf,
    /// Canary requests, same formats.
    #[arg(long)]
    pub canary: PathBuf,
    /// Print the verdict as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Why `canaryd judge` could not judge.
#[derive(Debug, Error)]
pub enum JudgeCliError {
    #[error("{path}: cannot read: {source}")]
    ReadPolicy {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    ParsePolicy {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {source}")]
    InvalidPolicy {
        path: PathBuf,
        #[source]
        source: SpecError,
    },
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("internal: {0}")]
    Internal(String),
}

/// The part of a policy file this command reads. Other top-level sections (target, plan,
/// metrics, ...) are accepted and ignored; unknown fields *inside* `judge:` are errors.
#[derive(Debug, Deserialize)]
struct PolicyFile {
    #[serde(default)]
    judge: Option<JudgeSpec>,
}

/// Reads and validates the `judge:` section of a policy file (defaults when absent).
pub fn load_judge_spec(path: &Path) -> Result<JudgeSpec, JudgeCliError> {
    let text = std::fs::read_to_string(path).map_err(|source| JudgeCliError::ReadPolicy {
        path: path.to_path_buf(),
        source,
    })?;
    parse_judge_spec(path, &text)
}

/// Parses and validates policy text; `path` names it in messages.
pub fn parse_judge_spec(path: &Path, text: &str) -> Result<JudgeSpec, JudgeCliError> {
    let policy: PolicyFile = if text.trim().is_empty() {
        PolicyFile { judge: None }
    } else {
        serde_yaml_ng::from_str(text).map_err(|error| {
            let (line, column) = error
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            JudgeCliError::ParsePolicy {
                path: path.to_path_buf(),
                line,
                column,
                message: error.to_string(),
            }
        })?
    };
    let spec = policy.judge.unwrap_or_default();
    spec.validate()
        .map_err(|source| JudgeCliError::InvalidPolicy {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(spec)
}

/// The JSON document printed by `--json`.
#[derive(Debug, Serialize)]
struct JudgeReport<'a> {
    policy: &'a Path,
    baseline_file: &'a Path,
    canary_file: &'a Path,
    #[serde(flatten)]
    verdict: &'a Verdict,
}

/// Runs the command, writing to `out`; returns the overall outcome.
pub fn run(args: &JudgeArgs, out: &mut impl Write) -> Result<Outcome, JudgeCliError> {
    let spec = load_judge_spec(&args.policy)?;
    let baseline = read_samples(&args.baseline)?;
    let canary = read_samples(&args.canary)?;
    let buckets = LogBuckets::new(CLI_BUCKET_MIN_MS, CLI_BUCKET_GROWTH, CLI_BUCKET_COUNT)
        .map_err(|error| JudgeCliError::Internal(error.to_string()))?;
    let observation = Observation::from_samples(buckets, 0, 0, &baseline, &canary);
    let mut state = JudgeState::new();
    let verdict = evaluate(&spec, &mut state, &observation);
    if args.json {
        let report = JudgeReport {
            policy: &args.policy,
            baseline_file: &args.baseline,
            canary_file: &args.canary,
            verdict: &verdict,
        };
        serde_json::to_writer_pretty(&mut *out, &report)
            .map_err(|error| JudgeCliError::Internal(error.to_string()))?;
        writeln!(out)?;
    } else {
        write_table(out, args, &verdict)?;
    }
    Ok(verdict.overall)
}

fn number(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() && v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-3) => {
            format!("{v:.3e}")
        }
        Some(v) if v.is_finite() => format!("{v:.4}"),
        Some(v) if v.is_nan() => "n/a".to_string(),
        Some(v) => format!("{v}"),
        None => "-".to_string(),
    }
}

fn write_table(out: &mut impl Write, args: &JudgeArgs, verdict: &Verdict) -> std::io::Result<()> {
    writeln!(out, "canaryd judge: policy {}", args.policy.display())?;
    writeln!(
        out,
        "  baseline {} · canary {}",
        args.baseline.display(),
        args.canary.display()
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<22} {:<13} {:>10} {:>23} {:>9} {:>9} {:>8} {:>8}",
        "CHECK", "OUTCOME", "ESTIMATE", "INTERVAL", "LIMIT", "ALPHA", "N_BASE", "N_CAN"
    )?;
    for check in &verdict.checks {
        let interval = check
            .interval
            .map(|i| format!("[{}, {}]", number(Some(i.lower)), number(Some(i.upper))))
            .unwrap_or_else(|| "-".to_string());
        writeln!(
            out,
            "{:<22} {:<13} {:>10} {:>23} {:>9} {:>9.4} {:>8} {:>8}",
            check.name,
            check.outcome.label(),
            number(check.estimate),
            interval,
            number(Some(check.threshold)),
            check.alpha,
            check.n_baseline,
            check.n_canary
        )?;
    }
    writeln!(out)?;
    for check in &verdict.checks {
        write_details(out, check)?;
    }
    writeln!(out)?;
    writeln!(out, "overall: {}", verdict.overall.label())?;
    writeln!(out, "{}", verdict.summary)?;
    Ok(())
}

fn write_details(out: &mut impl Write, check: &CheckResult) -> std::io::Result<()> {
    writeln!(out, "{}: {}", check.name, check.reason)?;
    if let Some(mw) = &check.mann_whitney {
        let hl = mw
            .hodges_lehmann
            .map(|h| {
                format!(
                    "hodges_lehmann {} [{}, {}]",
                    number(Some(h.estimate)),
                    number(Some(h.lower)),
                    number(Some(h.upper))
                )
            })
            .unwrap_or_else(|| "hodges_lehmann -".to_string());
        writeln!(
            out,
            "    u {} · z {} · p_value {} · cles {} · {hl}",
            number(Some(mw.u)),
            number(Some(mw.z)),
            number(Some(mw.p_value)),
            number(Some(mw.cles))
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_sections_outside_judge_are_ignored_and_typos_inside_are_located() {
        let spec = parse_judge_spec(
            Path::new("p.yaml"),
            "target: {endpoint: e}\nplan: [5, 10]\njudge:\n  alpha: 0.02\n",
        )
        .expect("valid");
        assert_eq!(spec.alpha, 0.02);
        let error = parse_judge_spec(
            Path::new("p.yaml"),
            "judge:\n  alpha: 0.02\n  checks:\n    latency: {max_incr: 0.1}\n",
        )
        .expect_err("typo");
        let message = error.to_string();
        assert!(message.starts_with("p.yaml:4:"), "{message}");
        assert!(message.contains("max_incr"), "{message}");
        let error =
            parse_judge_spec(Path::new("p.yaml"), "judge:\n  alpha: 2\n").expect_err("invalid");
        assert!(error.to_string().contains("judge.alpha"), "{error}");
    }
}
