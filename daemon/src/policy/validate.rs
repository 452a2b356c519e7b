//! Semantic rules a policy must satisfy beyond its types. Each problem names the key path
//! (located in the file by the caller), what is wrong, and the fix.

use std::time::Duration;

use super::duration::format_duration;
use super::{DeploymentSelector, InconclusiveAction, Policy, SourceSpec};
use crate::judge::JudgeMethod;
use crate::source::monitor::MONITOR_SERIES;

pub(crate) struct Problem {
    pub field: String,
    /// Where to point when `field` is not written in the file (e.g. a default is at fault).
    pub fallback: Option<&'static str>,
    pub message: String,
    pub fix: String,
}

pub(crate) fn problem(
    field: impl Into<String>,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> Problem {
    Problem {
        field: field.into(),
        fallback: None,
        message: message.into(),
        fix: fix.into(),
    }
}

/// A GUID in its usual 8-4-4-4-12 hex form.
pub(super) fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Characters that would break an ARM path or a KQL string literal.
fn bad_name_char(name: &str) -> Option<char> {
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')')))
}

fn check_name(field: &str, name: &str, what: &str) -> Result<(), Problem> {
    if name.is_empty() {
        return Err(problem(
            field,
            format!("the {what} name is empty"),
            format!("give the {what}'s name as Azure shows it"),
        ));
    }
    if let Some(c) = bad_name_char(name) {
        return Err(problem(
            field,
            format!("'{name}' contains '{c}', which no Azure {what} name contains"),
            format!("give the {what}'s name only (letters, digits, '-', '_', '.')"),
        ));
    }
    Ok(())
}

pub(super) fn validate(policy: &Policy, name_given: bool) -> Result<(), Problem> {
    let name_field = if name_given { "name" } else { "" };
    if policy.name.is_empty()
        || !policy
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(problem(
            name_field,
            format!("policy name '{}' is not usable", policy.name),
            "use letters, digits, '-', '_' and '.' only",
        ));
    }

    let target = &policy.target;
    if !is_guid(&target.subscription) {
        return Err(problem(
            "target.subscription",
            format!(
                "'{}' is not a subscription id (a GUID)",
                target.subscription
            ),
            "give the subscription id, e.g. 00000000-0000-0000-0000-000000000000 (az account show --query id)",
        ));
    }
    check_name(
        "target.resource_group",
        &target.resource_group,
        "resource group",
    )?;
    check_name("target.workspace", &target.workspace, "workspace")?;
    check_name("target.endpoint", &target.endpoint, "endpoint")?;

    for (field, selector) in [("baseline", &policy.baseline), ("canary", &policy.canary)] {
        if let DeploymentSelector::Named(name) = selector {
            check_name(field, name, "deployment")?;
        }
    }
    if let (DeploymentSelector::Named(baseline), DeploymentSelector::Named(canary)) =
        (&policy.baseline, &policy.canary)
        && baseline.eq_ignore_ascii_case(canary)
    {
        return Err(problem(
            "canary",
            format!("canary and baseline are both '{canary}'"),
            "name two different deployments, or write `canary: auto` to pick up the new deployment",
        ));
    }

    let plan = &policy.plan;
    match &policy.source {
        SourceSpec::LogAnalytics {
            workspace_id,
            query,
            ..
        } => {
            if !is_guid(workspace_id.trim()) {
                return Err(problem(
                    "source.log_analytics.workspace_id",
                    format!("'{workspace_id}' is not a Log Analytics workspace id (a GUID)"),
                    "give the workspace's Workspace ID (customerId), not its name or resource id: az monitor log-analytics workspace show --query customerId",
                ));
            }
            if let Some(query) = query
                && query.trim().is_empty()
            {
                return Err(problem(
                    "source.log_analytics.query",
                    "the query is empty",
                    "remove `query` to use the default KQL, or write one following the column contract in daemon/docs/policy.md",
                ));
            }
            if let Some(query) = query {
                crate::source::kql::validate_template(query).map_err(|error| {
                    problem(
                        "source.log_analytics.query",
                        error.to_string(),
                        "use only the documented placeholders and return the documented columns (daemon/docs/policy.md, \"Custom query\")",
                    )
                })?;
            }
        }
        SourceSpec::AzureMonitor { .. } => {
            if policy.judge.method != JudgeMethod::Kayenta {
                return Err(Problem {
                    fallback: Some("source"),
                    ..problem(
                        "judge.method",
                        "the azure_monitor source gives per-minute aggregates, which only the Kayenta judge can use",
                        "set `judge.method: kayenta` with a `judge.kayenta` config, or use the log_analytics source for the sequential judge",
                    )
                });
            }
            if plan.interval.as_secs() % 60 != 0 || plan.interval.subsec_nanos() != 0 {
                return Err(problem(
                    "plan.interval",
                    format!(
                        "{} is not a whole number of minutes; Azure Monitor metrics are per minute",
                        format_duration(plan.interval)
                    ),
                    "use an interval of whole minutes, e.g. 1m or 5m",
                ));
            }
        }
    }

    policy.judge.validate().map_err(|error| {
        // The judge names fields relative to its section; `[]` means "some element".
        let field = format!("judge.{}", error.field.replace("[]", ""));
        problem(field, error.problem, error.fix)
    })?;
    if let (SourceSpec::AzureMonitor { .. }, Some(kayenta)) =
        (&policy.source, &policy.judge.kayenta)
    {
        for (i, metric) in kayenta.metrics.iter().enumerate() {
            if !MONITOR_SERIES.contains(&metric.name.as_str()) {
                return Err(problem(
                    format!("judge.kayenta.metrics[{i}].name"),
                    format!("the azure_monitor source has no series '{}'", metric.name),
                    format!("name it one of {}", MONITOR_SERIES.join(", ")),
                ));
            }
        }
    }

    if plan.interval == Duration::ZERO {
        return Err(problem(
            "plan.interval",
            "the analysis interval is zero",
            "give a positive interval such as 1m",
        ));
    }
    let interval = format_duration(plan.interval);

    if let Some(shadow) = &plan.shadow {
        if shadow.mirror_percent == 0 || shadow.mirror_percent > 50 {
            return Err(problem(
                "plan.shadow.mirror",
                format!("{}% cannot be mirrored", shadow.mirror_percent),
                "mirror between 1 and 50 percent (Azure allows at most 50%)",
            ));
        }
        if shadow.duration < plan.interval {
            return Err(problem(
                "plan.shadow.duration",
                format!(
                    "the shadow phase ({}) is shorter than one analysis interval ({interval})",
                    format_duration(shadow.duration)
                ),
                format!("make it at least {interval}, or remove `shadow`"),
            ));
        }
    }

    if plan.steps.is_empty() {
        return Err(problem(
            "plan.steps",
            "no traffic steps",
            "list increasing percentages ending at 100, e.g. [5, 10, 25, 50, 100]",
        ));
    }
    let mut previous = 0;
    for (i, step) in plan.steps.iter().enumerate() {
        let field = format!("plan.steps[{i}]");
        let traffic = step.traffic_percent;
        if traffic == 0 || traffic > 100 {
            return Err(problem(
                format!("{field}.traffic"),
                format!("{traffic}% is not a traffic step"),
                "give a percentage from 1 to 100",
            ));
        }
        if traffic <= previous {
            return Err(problem(
                format!("{field}.traffic"),
                format!("steps must increase, but {traffic}% follows {previous}%"),
                "list steps in strictly increasing order, e.g. 5, 10, 25, 50, 100",
            ));
        }
        previous = traffic;
        if step.min_duration < plan.interval {
            return Err(problem(
                format!("{field}.min_duration"),
                format!(
                    "{} is shorter than one analysis interval ({interval}); the step could not be judged",
                    format_duration(step.min_duration)
                ),
                format!("make min_duration at least {interval}, or shorten plan.interval"),
            ));
        }
    }
    if previous != 100 {
        let last = plan.steps.len() - 1;
        return Err(problem(
            format!("plan.steps[{last}].traffic"),
            format!("the last step is {previous}%; reaching 100% is the promotion"),
            "end the steps with 100",
        ));
    }

    let minimum = plan.minimum_total();
    if plan.deadline < minimum {
        return Err(problem(
            "plan.deadline",
            format!(
                "{} is shorter than the plan's minimum ({}: shadow plus every step's min_duration)",
                format_duration(plan.deadline),
                format_duration(minimum)
            ),
            format!(
                "set the deadline to at least {} (with room for holds), or shorten the steps",
                format_duration(minimum)
            ),
        ));
    }

    let gates = &plan.gates;
    if let Some(timeout) = gates.timeout
        && timeout < plan.interval
    {
        return Err(problem(
            "plan.gates.timeout",
            format!(
                "{} is shorter than one analysis interval ({interval}); a gate would time out before anyone could approve it",
                format_duration(timeout)
            ),
            "give the time people need to approve, e.g. 4h, or `never` to wait until promoted or aborted",
        ));
    }
    if let Some(windows) = &plan.promotion_windows
        && windows.allow.as_ref().is_some_and(Vec::is_empty)
    {
        return Err(problem(
            "plan.promotion_windows.allow",
            "the allow list is empty, so traffic could never increase",
            "list the cron expressions of the allowed minutes, e.g. [\"* 9-16 * * Mon-Fri\"], or remove `allow` to allow every minute outside the freezes",
        ));
    }

    let failure = &policy.failure;
    if failure.source_error_grace < plan.interval {
        return Err(problem(
            "failure.source_error_grace",
            format!(
                "{} is shorter than one analysis interval ({interval}); a single failed query would roll back",
                format_duration(failure.source_error_grace)
            ),
            format!("give at least {interval} (default 15m)"),
        ));
    }
    if let Some(limit) = failure.inconclusive_limit {
        if limit == Duration::ZERO {
            return Err(problem(
                "failure.inconclusive_limit",
                "the limit is zero",
                "give a duration such as 30m, or `never` to hold until the deadline",
            ));
        }
        if failure.on_inconclusive == InconclusiveAction::Hold
            && failure.on_inconclusive_timeout == InconclusiveAction::Hold
        {
            return Err(problem(
                "failure.on_inconclusive_timeout",
                "holding again after the inconclusive limit does nothing",
                "use roll_back or advance, or set `inconclusive_limit: never`",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_guid;

    #[test]
    fn guids() {
        assert!(is_guid("5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11"));
        assert!(is_guid("5B1C0F0E-7A3D-4E61-9C1A-2F4D6B8A0C11"));
        assert!(!is_guid("5b1c0f0e7a3d4e619c1a2f4d6b8a0c11"));
        assert!(!is_guid("my-workspace"));
        assert!(!is_guid("5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c1g"));
    }
}
