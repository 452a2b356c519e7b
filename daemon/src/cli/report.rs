//! `canaryd report ROLLOUT --out FILE.html`: one self-contained HTML file with a rollout's
//! evidence for release reviews: the policy (name, hash and, when the file still has that
//! hash, its text), every step, every decision with the judge's numbers, and the charts. The
//! status page's stylesheet, script and data are inlined; the file loads nothing else.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;
use time::OffsetDateTime;

use crate::config::DaemonConfig;
use crate::store::Store;
use crate::ui::timeline::{self, RolloutView, TimelineError};
use crate::ui::{Assets, PageKind, PageSpec, page_html};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The rollout's id (as `canaryd status` and the status page show it).
    pub rollout: String,
    /// Where to write the HTML report.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Daemon config (TOML) naming the state database and the policies directory.
    #[arg(long, short = 'c', env = "CANARYD_CONFIG")]
    pub config: Option<PathBuf>,
    /// The state database (overrides the config's `state_db`).
    #[arg(long)]
    pub state_db: Option<PathBuf>,
    /// Where to look for the policy file's text (overrides the config's `policies_dir`).
    #[arg(long)]
    pub policies_dir: Option<PathBuf>,
}

/// The policy as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyEvidence {
    pub name: String,
    pub hash: String,
    /// The file whose content has `hash`, when one still does.
    pub path: Option<String>,
    pub text: Option<String>,
    /// Why there is no text, when there is none.
    pub note: Option<String>,
}

/// Everything embedded in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportData {
    pub rollout: RolloutView,
    pub policy: PolicyEvidence,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
}

/// Writes the report; the error names what to fix (an unknown rollout lists the known ones).
pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let config = match (&args.config, &args.state_db, &args.policies_dir) {
        // Both paths given: no config is needed (nor read from the environment).
        (None, Some(_), Some(_)) => DaemonConfig::default(),
        _ => DaemonConfig::load(args.config.as_deref()).with_context(|| match &args.config {
            Some(path) => format!("loading the config {}", path.display()),
            None => "loading the configuration from the environment".to_string(),
        })?,
    };
    let state_db = args.state_db.clone().unwrap_or(config.state_db);
    let policies_dir = args.policies_dir.clone().unwrap_or(config.policies_dir);
    let html = render(&args.rollout, &state_db, &policies_dir)?;
    write_report(&args.out, &html)?;
    println!(
        "wrote the evidence report of rollout {} to {}",
        args.rollout,
        args.out.display()
    );
    Ok(())
}

/// The report of `rollout` from the state database at `state_db`, as HTML.
pub fn render(rollout: &str, state_db: &Path, policies_dir: &Path) -> anyhow::Result<String> {
    // Opening creates a missing database; a report must not.
    if !state_db.is_file() {
        bail!(
            "state database {} does not exist; fix: pass --state-db FILE or set state_db in the config",
            state_db.display()
        );
    }
    // The daemon may be running: the store is in WAL mode, so this reader sees the last
    // committed state without blocking it.
    let store = Store::open(state_db)
        .with_context(|| format!("opening the state database {}", state_db.display()))?;
    let view = match timeline::rollout_view(&store, rollout) {
        Ok(view) => view,
        Err(TimelineError::NotFound(_)) => bail!("{}", unknown_rollout(&store, rollout, state_db)),
        Err(error) => {
            return Err(error)
                .with_context(|| format!("reading rollout {rollout} from {}", state_db.display()));
        }
    };
    let policy = policy_evidence(
        &view.identity.policy_name,
        &view.identity.policy_hash,
        policies_dir,
    );
    let data = ReportData {
        rollout: view,
        policy,
        generated_at: OffsetDateTime::now_utc(),
    };
    let json = serde_json::to_value(&data).context("serializing the report's data")?;
    let title = format!(
        "canaryd evidence report: rollout {} ({} on {})",
        data.rollout.identity.id, data.rollout.identity.canary, data.rollout.identity.endpoint
    );
    Ok(page_html(&PageSpec {
        title: &title,
        kind: PageKind::Rollout(&data.rollout.identity.id),
        assets: Assets::Inline,
        embedded_json: Some(&json),
    }))
}

fn unknown_rollout(store: &Store, wanted: &str, state_db: &Path) -> String {
    let known = match store.rollouts(false) {
        Ok(rollouts) => rollouts,
        Err(error) => {
            return format!(
                "no rollout '{wanted}' in {} (and the list of rollouts cannot be read: {error})",
                state_db.display()
            );
        }
    };
    if known.is_empty() {
        return format!(
            "no rollout '{wanted}': the state database {} has no rollouts; fix: check --state-db or the config's state_db",
            state_db.display()
        );
    }
    let ids: Vec<String> = known
        .iter()
        .rev()
        .map(|r| format!("{} ({} on {})", r.id, r.canary, r.endpoint))
        .collect();
    format!(
        "no rollout '{wanted}' in {}; known rollouts, newest first: {}",
        state_db.display(),
        ids.join(", ")
    )
}

/// The policy's text from the first file in `dir` whose content still has the journaled hash.
fn policy_evidence(name: &str, hash: &str, dir: &Path) -> PolicyEvidence {
    let mut evidence = PolicyEvidence {
        name: name.to_string(),
        hash: hash.to_string(),
        path: None,
        text: None,
        note: None,
    };
    let files = match crate::policy::policy_files(dir) {
        Ok(files) => files,
        Err(error) => {
            evidence.note = Some(format!("The policy text is not included: {error}."));
            return evidence;
        }
    };
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if crate::policy::content_hash(&bytes) == hash {
            evidence.path = Some(path.display().to_string());
            evidence.text = Some(String::from_utf8_lossy(&bytes).into_owned());
            return evidence;
        }
    }
    evidence.note = Some(format!(
        "The policy text is not included: no file in {} has content hash {hash} (the policy was changed or removed since this rollout).",
        dir.display()
    ));
    evidence
}

fn write_report(out: &Path, html: &str) -> anyhow::Result<()> {
    if out.is_dir() {
        bail!(
            "--out {} is a directory; fix: give a file name such as {}",
            out.display(),
            out.join("report.html").display()
        );
    }
    std::fs::write(out, html).with_context(|| {
        format!(
            "cannot write the report to {}; fix: choose a path in an existing, writable directory",
            out.display()
        )
    })
}
