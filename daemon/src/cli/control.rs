//! `canaryd status` and `canaryd pause|resume|promote|abort ROLLOUT`: clients of the daemon's
//! REST API (see daemon/docs/server.md).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::config::DaemonConfig;

/// Where the daemon is and how to authenticate.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Base URL of the daemon's HTTP server [default: http://<`listen` of the config>]
    #[arg(long)]
    pub server: Option<String>,
    /// Bearer token: the read token for `status`, the control token for commands.
    #[arg(long, env = "CANARYD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Daemon config to take `listen` from when --server is not given.
    #[arg(long, short = 'c', env = "CANARYD_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// One rollout's state and journal instead of the list.
    pub rollout: Option<String>,
    /// Print the server's JSON answer.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, clap::Args)]
pub struct CommandArgs {
    /// The rollout id, as `canaryd status` lists it.
    pub rollout: String,
    /// Why (journaled with the decision).
    #[arg(long, short = 'r')]
    pub reason: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// A manual command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Pause,
    Resume,
    Promote,
    Abort,
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Promote => "promote",
            Command::Abort => "abort",
        }
    }
}

impl ServerArgs {
    /// The server's base URL, without a trailing slash.
    pub fn base_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.server {
            return Ok(url.trim_end_matches('/').to_string());
        }
        let config = DaemonConfig::load(self.config.as_deref()).with_context(
            || "reading the daemon config for its `listen` address (or pass --server URL)",
        )?;
        let mut address = config.listen;
        if address.ip().is_unspecified() {
            address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Ok(format!("http://{address}"))
    }
}

/// `canaryd status`: writes the rollouts (or one rollout) to `out`.
pub fn status(args: &StatusArgs, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let base = args.server.base_url()?;
    let path = match &args.rollout {
        Some(id) => format!("/api/v1/rollouts/{id}"),
        None => "/api/v1/rollouts".to_string(),
    };
    let body = call(&base, &path, None, args.server.token.as_deref(), "read")?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&body)?)?;
        return Ok(());
    }
    match &args.rollout {
        Some(_) => write_detail(&body, out)?,
        None => write_list(&body, out)?,
    }
    Ok(())
}

/// `canaryd pause|resume|promote|abort ROLLOUT`: writes what the daemon did to `out`.
pub fn command(
    command: Command,
    args: &CommandArgs,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let base = args.server.base_url()?;
    let path = format!("/api/v1/rollouts/{}/{}", args.rollout, command.name());
    let body = json!({ "reason": args.reason.clone().unwrap_or_else(|| format!("{} from the command line", command.name())) });
    let answer = call(
        &base,
        &path,
        Some(&body),
        args.server.token.as_deref(),
        "control",
    )?;
    writeln!(
        out,
        "{} {}: {} — {} (now {}{}, canary {}%)",
        command.name(),
        args.rollout,
        text(&answer, "decision"),
        text(&answer, "reason"),
        text(&answer, "phase"),
        if answer.get("paused").and_then(Value::as_bool) == Some(true) {
            ", paused"
        } else {
            ""
        },
        answer
            .get("canary_percent")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    )?;
    Ok(())
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

/// One request; Ok with the JSON body on 2xx, else an error saying what to fix.
fn call(
    base: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
    token_kind: &str,
) -> anyhow::Result<Value> {
    let url = format!("{base}{path}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(90))
            .build()
            .context("building the HTTP client")?;
        let mut request = match body {
            Some(body) => client.post(&url).json(body),
            None => client.get(&url),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|error| {
            anyhow::anyhow!(
                "cannot reach the canaryd server at {url}: {error}; fix: check that `canaryd run` is running there, or pass --server URL"
            )
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let message = value
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string());
        match status.as_u16() {
            200..=299 if status.as_u16() != 202 => Ok(value),
            202 => bail!("{url}: accepted but not finished: {message}"),
            401 => bail!(
                "{url}: HTTP 401: {message}; fix: pass the server's {token_kind} token (server.{token_kind}_token) with --token or CANARYD_TOKEN{}",
                if token.is_none() { " (none was given)" } else { "" }
            ),
            code => bail!("{url}: HTTP {code}: {message}"),
        }
    })
}

fn write_list(body: &Value, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let rollouts = body
        .get("rollouts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if rollouts.is_empty() {
        writeln!(out, "no rollouts")?;
        return Ok(());
    }
    for rollout in rollouts {
        let paused = if rollout.get("paused").and_then(Value::as_bool) == Some(true) {
            " (paused)"
        } else {
            ""
        };
        let last = rollout.get("last_decision");
        writeln!(
            out,
            "{}  {}{}  canary {}%  policy {}\n    last: {} — {}",
            text(&rollout, "id"),
            text(&rollout, "phase"),
            paused,
            rollout
                .get("canary_percent")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            text(&rollout, "policy"),
            last.map(|l| text(l, "kind")).unwrap_or("-"),
            last.map(|l| text(l, "reason")).unwrap_or("-"),
        )?;
    }
    Ok(())
}

fn write_detail(body: &Value, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let rollout = body.get("rollout").cloned().unwrap_or(Value::Null);
    writeln!(
        out,
        "{}  {}  baseline {}  canary {} at {}%{}",
        text(&rollout, "id"),
        text(&rollout, "phase"),
        text(&rollout, "baseline"),
        text(&rollout, "canary"),
        rollout
            .get("canary_percent")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        if rollout.get("paused").and_then(Value::as_bool) == Some(true) {
            " (paused)"
        } else {
            ""
        },
    )?;
    for entry in body
        .get("journal")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        writeln!(
            out,
            "  {}  {}",
            text(&entry, "at"),
            text(&entry, "decision")
        )?;
    }
    Ok(())
}
