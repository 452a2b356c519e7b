//! Azure Monitor alerts as the store keeps them, and which rollouts an alert concerns.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Store, StoreError, json_text, parse_json, parse_time, sqlite, time_text};
use crate::model::EndpointRef;

/// `Fired` or `Resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertCondition {
    Fired,
    Resolved,
}

impl AlertCondition {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertCondition::Fired => "fired",
            AlertCondition::Resolved => "resolved",
        }
    }
}

/// One received alert notification (one per alert and condition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub alert_id: String,
    pub condition: AlertCondition,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub alert_rule: String,
    pub severity: String,
    /// `alertTargetIDs`, lower-cased, without a trailing slash.
    pub target_ids: Vec<String>,
    /// Deployments the alert names (its `deployment` dimensions, or a deployment resource id
    /// among its targets), lower-cased; empty when it names none (the whole endpoint).
    pub deployments: Vec<String>,
    /// One sentence: the rule, severity, metric value and threshold.
    pub summary: String,
    /// The webhook body as received.
    pub payload: serde_json::Value,
}

impl AlertRecord {
    /// True when the alert targets `endpoint` (its resource id, or a deployment's under it).
    pub fn targets(&self, endpoint: &EndpointRef) -> bool {
        let id = endpoint.resource_id().to_ascii_lowercase();
        let under = format!("{id}/deployments/");
        self.target_ids
            .iter()
            .any(|target| *target == id || target.starts_with(&under))
    }

    /// True when the alert concerns the rollout of `canary` on `endpoint`: it targets the
    /// endpoint and names no deployment or names the canary.
    pub fn concerns(&self, endpoint: &EndpointRef, canary: &str) -> bool {
        self.targets(endpoint)
            && (self.deployments.is_empty()
                || self
                    .deployments
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(canary)))
    }
}

impl Store {
    /// Records an alert notification. Returns false (and changes nothing) when the same alert
    /// with the same condition was already recorded: Azure retries its webhooks.
    pub fn record_alert(&self, alert: &AlertRecord) -> Result<bool, StoreError> {
        let targets = json_text("alert targets", &serde_json::json!(alert.target_ids))?;
        let deployments = json_text("alert deployments", &serde_json::json!(alert.deployments))?;
        let payload = json_text("alert payload", &alert.payload)?;
        let inserted = self
            .lock()
            .execute(
                "INSERT OR IGNORE INTO alerts (alert_id, monitor_condition, received_at, alert_rule,
                                               severity, target_ids, deployments, summary, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    alert.alert_id,
                    alert.condition.as_str(),
                    time_text(alert.received_at),
                    alert.alert_rule,
                    alert.severity,
                    targets,
                    deployments,
                    alert.summary,
                    payload,
                ],
            )
            .map_err(sqlite(&self.path, "cannot record the alert"))?;
        Ok(inserted == 1)
    }

    /// Alerts that fired and have not been resolved, oldest first.
    pub fn firing_alerts(&self) -> Result<Vec<AlertRecord>, StoreError> {
        self.alerts_where(
            "WHERE monitor_condition = 'fired' AND NOT EXISTS (
               SELECT 1 FROM alerts r
               WHERE r.alert_id = alerts.alert_id AND r.monitor_condition = 'resolved')
             ORDER BY received_at, alert_id",
        )
    }

    /// Every recorded alert notification, oldest first.
    pub fn alerts(&self) -> Result<Vec<AlertRecord>, StoreError> {
        self.alerts_where("ORDER BY received_at, alert_id, monitor_condition")
    }

    /// One recorded notification, if any.
    pub fn alert(
        &self,
        alert_id: &str,
        condition: AlertCondition,
    ) -> Result<Option<AlertRecord>, StoreError> {
        let connection = self.lock();
        let raw = connection
            .query_row(
                &format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = ?1 AND monitor_condition = ?2"
                ),
                params![alert_id, condition.as_str()],
                RawAlert::from_row,
            )
            .optional()
            .map_err(sqlite(&self.path, "cannot read the alert"))?;
        drop(connection);
        raw.map(|r| r.into_record(&self.path)).transpose()
    }

    fn alerts_where(&self, clause: &str) -> Result<Vec<AlertRecord>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(&format!("SELECT {ALERT_COLUMNS} FROM alerts {clause}"))
            .map_err(sqlite(&self.path, "cannot list alerts"))?;
        let raw = statement
            .query_map([], RawAlert::from_row)
            .map_err(sqlite(&self.path, "cannot list alerts"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sqlite(&self.path, "cannot list alerts"))?;
        drop(statement);
        drop(connection);
        raw.into_iter().map(|r| r.into_record(&self.path)).collect()
    }
}

const ALERT_COLUMNS: &str = "alert_id, monitor_condition, received_at, alert_rule, severity, target_ids, deployments, summary, payload";

struct RawAlert {
    alert_id: String,
    condition: String,
    received_at: String,
    alert_rule: String,
    severity: String,
    target_ids: String,
    deployments: String,
    summary: String,
    payload: String,
}

impl RawAlert {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawAlert> {
        Ok(RawAlert {
            alert_id: row.get(0)?,
            condition: row.get(1)?,
            received_at: row.get(2)?,
            alert_rule: row.get(3)?,
            severity: row.get(4)?,
            target_ids: row.get(5)?,
            deployments: row.get(6)?,
            summary: row.get(7)?,
            payload: row.get(8)?,
        })
    }

    fn into_record(self, path: &str) -> Result<AlertRecord, StoreError> {
        let row = format!("{} ({})", self.alert_id, self.condition);
        let corrupt = |what: &'static str, problem: String| StoreError::Corrupt {
            path: path.to_string(),
            what,
            row: row.clone(),
            problem,
        };
        let condition = match self.condition.as_str() {
            "fired" => AlertCondition::Fired,
            "resolved" => AlertCondition::Resolved,
            other => {
                return Err(corrupt(
                    "alerts.monitor_condition",
                    format!("unknown condition '{other}'"),
                ));
            }
        };
        let strings = |what: &'static str, text: &str| -> Result<Vec<String>, StoreError> {
            serde_json::from_str(text).map_err(|error| corrupt(what, error.to_string()))
        };
        Ok(AlertRecord {
            condition,
            received_at: parse_time(path, "alerts.received_at", &row, &self.received_at)?,
            target_ids: strings("alerts.target_ids", &self.target_ids)?,
            deployments: strings("alerts.deployments", &self.deployments)?,
            payload: parse_json(path, "alerts.payload", &row, &self.payload)?,
            alert_id: self.alert_id,
            alert_rule: self.alert_rule,
            severity: self.severity,
            summary: self.summary,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> EndpointRef {
        EndpointRef {
            subscription: "S".into(),
            resource_group: "RG".into(),
            workspace: "WS".into(),
            endpoint: "my-ep".into(),
        }
    }

    fn alert(
        id: &str,
        condition: AlertCondition,
        target: &str,
        deployments: &[&str],
    ) -> AlertRecord {
        AlertRecord {
            alert_id: id.into(),
            condition,
            received_at: time::macros::datetime!(2026-01-01 00:00 UTC),
            alert_rule: "rule".into(),
            severity: "Sev2".into(),
            target_ids: vec![target.to_ascii_lowercase()],
            deployments: deployments.iter().map(|d| d.to_string()).collect(),
            summary: "summary".into(),
            payload: serde_json::json!({"k": 1}),
        }
    }

    #[test]
    fn concern_needs_the_endpoint_and_no_or_the_canary_deployment() {
        let ep = endpoint();
        let id = ep.resource_id();
        assert!(alert("a", AlertCondition::Fired, &id, &[]).concerns(&ep, "green"));
        assert!(alert("a", AlertCondition::Fired, &id, &["green"]).concerns(&ep, "green"));
        assert!(!alert("a", AlertCondition::Fired, &id, &["blue"]).concerns(&ep, "green"));
        let deployment_id = format!("{id}/deployments/green");
        assert!(alert("a", AlertCondition::Fired, &deployment_id, &[]).concerns(&ep, "green"));
        let other = id.replace("my-ep", "my-ep2");
        assert!(!alert("a", AlertCondition::Fired, &other, &[]).concerns(&ep, "green"));
        let other_deep = format!("{other}/deployments/green");
        assert!(!alert("a", AlertCondition::Fired, &other_deep, &[]).targets(&ep));
    }

    #[test]
    fn duplicates_change_nothing_and_resolved_ends_firing() {
        let store = Store::open_in_memory().expect("store");
        let id = endpoint().resource_id();
        let fired = alert("a1", AlertCondition::Fired, &id, &[]);
        assert!(store.record_alert(&fired).expect("record"));
        assert!(!store.record_alert(&fired).expect("record again"));
        assert_eq!(store.alerts().expect("alerts").len(), 1);
        assert_eq!(store.firing_alerts().expect("firing"), vec![fired.clone()]);
        let resolved = alert("a1", AlertCondition::Resolved, &id, &[]);
        assert!(store.record_alert(&resolved).expect("resolve"));
        assert!(store.firing_alerts().expect("firing").is_empty());
        assert_eq!(
            store.alert("a1", AlertCondition::Fired).expect("read"),
            Some(fired)
        );
    }
}
