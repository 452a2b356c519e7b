//! The three message bodies, built from one [`RunnerEvent`]. Pure: no I/O, no clock.
//!
//! Every format carries the same facts: endpoint, canary vs baseline, decision, phase, traffic,
//! the reason sentence (which already holds the judge's estimate, interval and threshold), the
//! verdict, the window's sample sizes and figures per arm, and a status page link when a public
//! base URL is configured. Shapes: see daemon/docs/notify.md.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::config::WebhookFormat;
use crate::rollout::count;
use crate::runner::{ArmFigures, RunnerEvent, WindowFigures};

/// Slack limits (characters): header text 150, section text 3000, field text 2000.
const SLACK_HEADER_MAX: usize = 150;
const SLACK_SECTION_MAX: usize = 3000;
const SLACK_FIELD_MAX: usize = 2000;

/// The body to POST for `event` in `format`.
pub fn render(format: WebhookFormat, event: &RunnerEvent, status_url: Option<&str>) -> Value {
    let link = status_url.map(|base| rollout_link(base, &event.rollout_id));
    match format {
        WebhookFormat::Generic => generic(event, link.as_deref()),
        WebhookFormat::Teams => teams(event, link.as_deref()),
        WebhookFormat::Slack => slack(event, link.as_deref()),
    }
}

/// `{base}/rollouts/{id}`, the status page's page for one rollout.
pub fn rollout_link(base: &str, rollout_id: &str) -> String {
    format!(
        "{}/rollouts/{}",
        base.trim_end_matches('/'),
        crate::ui::percent_encode(rollout_id)
    )
}

/// One line saying what happened: `ml-prod/fraud: roll back — green vs blue (step 2, canary
/// 10%): <reason>`.
pub fn one_line(event: &RunnerEvent) -> String {
    format!(
        "{}: {} — {} vs {} ({}, canary {}%): {}",
        event.endpoint,
        event.decision,
        event.canary,
        event.baseline,
        event.phase,
        event.canary_percent,
        event.reason.trim()
    )
}

/// The title: `Roll back: ml-prod/fraud`.
pub fn title(event: &RunnerEvent) -> String {
    format!("{}: {}", capitalized(&event.decision), event.endpoint)
}

/// `window 12:00:00–12:05:00 UTC`.
pub fn window_span(window: &WindowFigures) -> String {
    let time_of = |unix: i64| {
        OffsetDateTime::from_unix_timestamp(unix)
            .map(|t| format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second()))
            .unwrap_or_else(|_| unix.to_string())
    };
    format!(
        "{}–{} UTC",
        time_of(window.window_start_unix_s),
        time_of(window.window_end_unix_s)
    )
}

/// `3,412 requests, p50 45.2 ms, p99 120 ms, errors 0.12%`.
pub fn arm_line(arm: &ArmFigures) -> String {
    let mut parts = vec![format!("{} requests", count(arm.requests))];
    if let Some(p50) = arm.p50_ms {
        parts.push(format!("p50 {} ms", milliseconds(p50)));
    }
    if let Some(p99) = arm.p99_ms {
        parts.push(format!("p99 {} ms", milliseconds(p99)));
    }
    if let Some(rate) = arm.error_rate {
        parts.push(format!("errors {}", percent(rate)));
    }
    parts.join(", ")
}

/// Generic: the event's fields at the top level, plus `text` (one line) and `status_link`.
fn generic(event: &RunnerEvent, link: Option<&str>) -> Value {
    let mut body = match serde_json::to_value(event) {
        Ok(Value::Object(map)) => map,
        // RunnerEvent is a plain struct; keep a usable body even if that ever changes.
        _ => Map::new(),
    };
    body.insert("text".into(), Value::String(one_line(event)));
    if let Some(link) = link {
        body.insert("status_link".into(), Value::String(link.into()));
    }
    Value::Object(body)
}

/// The facts shown as a table (Teams) or fields (Slack): (label, value).
fn facts(event: &RunnerEvent) -> Vec<(&'static str, String)> {
    let mut facts = vec![
        ("Endpoint", event.endpoint.clone()),
        (
            "Canary vs baseline",
            format!("{} vs {}", event.canary, event.baseline),
        ),
        ("Decision", event.decision.clone()),
        ("Phase", event.phase.clone()),
        (
            "Traffic",
            format!("{} (canary {}%)", event.traffic, event.canary_percent),
        ),
    ];
    if let Some(verdict) = &event.verdict {
        facts.push(("Verdict", verdict.clone()));
    }
    if let Some(window) = &event.window {
        facts.push(("Window", window_span(window)));
        facts.push(("Canary", arm_line(&window.canary)));
        facts.push(("Baseline", arm_line(&window.baseline)));
    }
    facts.push(("Policy", event.policy.clone()));
    facts.push(("Rollout", event.rollout_id.clone()));
    facts.push(("At", event.at.clone()));
    facts
}

/// Teams: a message with one Adaptive Card attachment, the shape both Teams Workflows
/// ("When a Teams webhook request is received") and incoming webhooks accept.
fn teams(event: &RunnerEvent, link: Option<&str>) -> Value {
    let color = match severity(event) {
        Severity::Bad => "Attention",
        Severity::Good => "Good",
        Severity::Neutral => "Default",
    };
    let facts: Vec<Value> = facts(event)
        .into_iter()
        .map(|(title, value)| json!({ "title": title, "value": value }))
        .collect();
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": { "width": "Full" },
        "body": [
            {
                "type": "TextBlock",
                "text": title(event),
                "size": "Large",
                "weight": "Bolder",
                "color": color,
                "wrap": true
            },
            {
                "type": "TextBlock",
                "text": format!("{} vs {} · {}", event.canary, event.baseline, event.phase),
                "isSubtle": true,
                "spacing": "None",
                "wrap": true
            },
            {
                "type": "TextBlock",
                "text": event.reason.trim(),
                "wrap": true
            },
            { "type": "FactSet", "facts": facts }
        ]
    });
    if let (Some(link), Some(card)) = (link, card.as_object_mut()) {
        card.insert(
            "actions".into(),
            json!([{ "type": "Action.OpenUrl", "title": "Open in canaryd", "url": link }]),
        );
    }
    json!({
        "type": "message",
        "summary": one_line(event),
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card
        }]
    })
}

/// Slack: `text` (the notification fallback) plus Block Kit `blocks` in mrkdwn.
fn slack(event: &RunnerEvent, link: Option<&str>) -> Value {
    let emoji = match severity(event) {
        Severity::Bad => ":rotating_light:",
        Severity::Good => ":white_check_mark:",
        Severity::Neutral => ":large_blue_circle:",
    };
    let fields: Vec<Value> = facts(event)
        .into_iter()
        .filter(|(title, _)| !matches!(*title, "Endpoint" | "Policy" | "Rollout" | "At"))
        .map(|(title, value)| {
            json!({
                "type": "mrkdwn",
                "text": truncate(&format!("*{}*\n{}", title, escape(&value)), SLACK_FIELD_MAX)
            })
        })
        .collect();
    let summary = format!(
        "*{}* vs *{}* on `{}`\n>{}",
        escape(&event.canary),
        escape(&event.baseline),
        escape(&event.endpoint),
        escape(event.reason.trim())
    );
    let mut context = vec![format!(
        "policy {} · rollout {} · {}",
        escape(&event.policy),
        escape(&event.rollout_id),
        escape(&event.at)
    )];
    if let Some(link) = link {
        context.push(format!("<{}|Open in canaryd>", escape(link)));
    }
    let blocks = json!([
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(&format!("{emoji} {}", title(event)), SLACK_HEADER_MAX),
                "emoji": true
            }
        },
        {
            "type": "section",
            "text": { "type": "mrkdwn", "text": truncate(&summary, SLACK_SECTION_MAX) }
        },
        // A section holds at most 10 fields; the facts kept here are at most 8.
        { "type": "section", "fields": fields },
        {
            "type": "context",
            "elements": context
                .into_iter()
                .map(|text| json!({ "type": "mrkdwn", "text": text }))
                .collect::<Vec<_>>()
        }
    ]);
    json!({
        "text": escape(&one_line(event)),
        "blocks": blocks
    })
}

enum Severity {
    Bad,
    Good,
    Neutral,
}

fn severity(event: &RunnerEvent) -> Severity {
    match event.decision.as_str() {
        "roll back" | "fail" => Severity::Bad,
        "promote" => Severity::Good,
        _ if event.phase == "rolled back" || event.phase == "failed" => Severity::Bad,
        _ if event.phase == "promoted" => Severity::Good,
        _ => Severity::Neutral,
    }
}

/// Slack treats `&`, `<` and `>` as markup (`<!channel>` would ping everyone).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, ending in `…` when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Three significant figures at most: `4.27`, `45.2`, `120`.
fn milliseconds(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() < 10.0 {
        format!("{value:.2}")
    } else if value.abs() < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

/// `0.0123` → `1.23%`; small rates keep their digits (`0.004%`).
fn percent(rate: f64) -> String {
    let pct = rate * 100.0;
    if pct != 0.0 && pct.abs() < 0.01 {
        format!("{pct:.3}%")
    } else {
        format!("{pct:.2}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_markup_is_escaped() {
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate("ééééé", 3).chars().count(), 3);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(milliseconds(4.267), "4.27");
        assert_eq!(milliseconds(45.25), "45.2");
        assert_eq!(milliseconds(120.4), "120");
        assert_eq!(percent(0.0123), "1.23%");
        assert_eq!(percent(0.00004), "0.004%");
        assert_eq!(percent(0.0), "0.00%");
        assert_eq!(count(3412), "3,412");
        assert_eq!(count(999), "999");
    }

    #[test]
    fn links_encode_the_rollout_id() {
        assert_eq!(
            rollout_link("https://c.example/", "ep/1 2"),
            "https://c.example/rollouts/ep%2F1%202"
        );
        assert_eq!(capitalized("roll back"), "Roll back");
    }
}
