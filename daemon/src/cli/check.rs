//! `canaryd check FILE_OR_DIR…`: loads and validates policy files the way the daemon does
//! and prints one line per file: `OK <file>: <endpoint>, steps 5→10→…, judge …` or the
//! error (`file:line:column: message — fix: …`). Directories are expanded to their
//! `*.yaml` / `*.yml` files. With `--json`, one JSON object per file.
//!
//! Exit status (wired in main.rs): 0 when every file is valid, 1 otherwise.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;

use crate::judge::JudgeMethod;
use crate::policy::duration::format_duration;
use crate::policy::{self, Policy, PolicyError, SourceSpec};

/// Checks the files (and directories) and prints to stdout; `Ok(true)` when all are valid.
pub fn run(paths: &[PathBuf], json: bool) -> Result<bool, anyhow::Error> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    run_to(paths, json, &mut out)
}

/// Like [`run`], writing to `out`.
pub fn run_to(paths: &[PathBuf], json: bool, out: &mut dyn Write) -> Result<bool, anyhow::Error> {
    if paths.is_empty() {
        anyhow::bail!("no policy files given: canaryd check FILE_OR_DIR…");
    }
    let mut files = Vec::new();
    let mut unreadable_dirs = Vec::new();
    for path in paths {
        if path.is_dir() {
            match policy::policy_files(path) {
                Ok(found) if found.is_empty() => unreadable_dirs.push(PolicyError {
                    path: path.clone(),
                    position: None,
                    field: String::new(),
                    message: "no *.yaml or *.yml files in this directory".into(),
                    fix: "give policy files or the directory holding them".into(),
                }),
                Ok(found) => files.extend(found),
                Err(error) => unreadable_dirs.push(error),
            }
        } else {
            files.push(path.clone());
        }
    }
    let mut all_ok = unreadable_dirs.is_empty();
    for error in &unreadable_dirs {
        print_error(out, json, error)?;
    }
    for (path, result) in policy::load_files(&files) {
        match result {
            Ok(policy) => print_ok(out, json, &policy)?,
            Err(error) => {
                all_ok = false;
                print_error(out, json, &error)
                    .with_context(|| format!("cannot report on {}", path.display()))?;
            }
        }
    }
    out.flush().context("cannot write the output")?;
    Ok(all_ok)
}

/// One line describing a valid policy.
pub fn summary(policy: &Policy) -> String {
    let judge = match policy.judge.method {
        JudgeMethod::Sequential => {
            let checks = &policy.judge.checks;
            let count = usize::from(checks.latency.is_some())
                + checks.quantiles.len()
                + checks.errors.len()
                + checks.absolute.len();
            format!(
                "judge sequential (alpha {}, {count} checks)",
                policy.judge.alpha
            )
        }
        JudgeMethod::Kayenta => {
            let metrics = policy.judge.kayenta.as_ref().map_or(0, |k| k.metrics.len());
            format!("judge kayenta ({metrics} metrics)")
        }
    };
    let source = match &policy.source {
        SourceSpec::LogAnalytics { query, .. } => format!(
            "log_analytics{}",
            if query.is_some() {
                " (custom query)"
            } else {
                ""
            }
        ),
        SourceSpec::AzureMonitor { .. } => "azure_monitor".to_string(),
    };
    format!(
        "{}, steps {}, every {}, deadline {}, {judge}, source {source}",
        policy.target,
        policy.plan.describe_steps(),
        format_duration(policy.plan.interval),
        format_duration(policy.plan.deadline),
    )
}

fn print_ok(out: &mut dyn Write, json: bool, policy: &Policy) -> anyhow::Result<()> {
    if json {
        let line = json!({
            "file": policy.path,
            "ok": true,
            "name": policy.name,
            "endpoint": policy.target.to_string(),
            "summary": summary(policy),
            "policy": policy,
        });
        writeln!(out, "{line}")?;
    } else {
        writeln!(out, "OK {}: {}", policy.path.display(), summary(policy))?;
    }
    Ok(())
}

fn print_error(out: &mut dyn Write, json: bool, error: &PolicyError) -> anyhow::Result<()> {
    if json {
        let line = json!({
            "file": error.path,
            "ok": false,
            "error": {
                "line": error.line(),
                "column": error.column(),
                "field": error.field,
                "message": error.message,
                "fix": error.fix,
                "text": error.to_string(),
            },
        });
        writeln!(out, "{line}")?;
    } else {
        writeln!(out, "{error}")?;
    }
    Ok(())
}
