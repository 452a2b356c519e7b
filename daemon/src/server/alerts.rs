//! Azure Monitor's common alert schema (metric alerts and log-search alerts) → [`AlertRecord`].
//!
//! Only what canaryd needs is read; every problem names the field (`data.essentials.alertId`)
//! so the 400 answer says what to fix.

use serde_json::Value;
use thiserror::Error;
use time::OffsetDateTime;

use crate::store::{AlertCondition, AlertRecord};

/// The `schemaId` of the common alert schema.
pub const COMMON_ALERT_SCHEMA: &str = "azureMonitorCommonAlertSchema";

/// Dimension names that carry the deployment: Azure ML's metric dimension and the traffic
/// log's column (for log-search alerts that split by it).
const DEPLOYMENT_DIMENSIONS: [&str; 2] = ["deployment", "deploymentname"];

#[derive(Debug, Error, PartialEq)]
pub enum AlertError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("`{field}` is missing")]
    Missing { field: String },
    #[error("`{field}` {problem}")]
    Invalid { field: String, problem: String },
}

impl AlertError {
    /// The field the error is about (None for a body that is not JSON).
    pub fn field(&self) -> Option<&str> {
        match self {
            AlertError::NotJson(_) => None,
            AlertError::Missing { field } | AlertError::Invalid { field, .. } => Some(field),
        }
    }
}

fn missing(field: &str) -> AlertError {
    AlertError::Missing {
        field: field.into(),
    }
}

fn invalid(field: &str, problem: impl Into<String>) -> AlertError {
    AlertError::Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Parses one webhook body received at `received_at`.
pub fn parse_alert(body: &[u8], received_at: OffsetDateTime) -> Result<AlertRecord, AlertError> {
    let payload: Value =
        serde_json::from_slice(body).map_err(|error| AlertError::NotJson(error.to_string()))?;
    if !payload.is_object() {
        return Err(invalid("(body)", "must be a JSON object"));
    }
    match payload.get("schemaId") {
        None | Some(Value::Null) => return Err(missing("schemaId")),
        Some(Value::String(id)) if id == COMMON_ALERT_SCHEMA => {}
        Some(other) => {
            return Err(invalid(
                "schemaId",
                format!(
                    "is {other}, expected \"{COMMON_ALERT_SCHEMA}\"; fix: enable the common alert schema on the action group's webhook"
                ),
            ));
        }
    }
    let data = object(&payload, "data", "data")?;
    let essentials = object(data, "essentials", "data.essentials")?;
    let alert_id = string(essentials, "alertId", "data.essentials.alertId")?;
    if alert_id.trim().is_empty() {
        return Err(invalid("data.essentials.alertId", "is empty"));
    }
    let condition_text = string(
        essentials,
        "monitorCondition",
        "data.essentials.monitorCondition",
    )?;
    let condition = if condition_text.eq_ignore_ascii_case("fired") {
        AlertCondition::Fired
    } else if condition_text.eq_ignore_ascii_case("resolved") {
        AlertCondition::Resolved
    } else {
        return Err(invalid(
            "data.essentials.monitorCondition",
            format!("is \"{condition_text}\", expected \"Fired\" or \"Resolved\""),
        ));
    };
    let targets_field = "data.essentials.alertTargetIDs";
    let targets = match essentials.get("alertTargetIDs") {
        None | Some(Value::Null) => return Err(missing(targets_field)),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid(targets_field, "must be an array of resource ids")),
    };
    if targets.is_empty() {
        return Err(invalid(targets_field, "is empty"));
    }
    let mut target_ids = Vec::new();
    let mut deployments = Vec::new();
    for (index, target) in targets.iter().enumerate() {
        let Some(id) = target.as_str() else {
            return Err(invalid(
                &format!("{targets_field}[{index}]"),
                "must be a string",
            ));
        };
        let id = id.trim().trim_end_matches('/').to_ascii_lowercase();
        if let Some((_, deployment)) = id.split_once("/deployments/")
            && !deployment.is_empty()
            && !deployment.contains('/')
        {
            push_unique(&mut deployments, deployment.to_string());
        }
        target_ids.push(id);
    }
    let alert_rule = optional_string(essentials, "alertRule", "data.essentials.alertRule")?
        .unwrap_or_else(|| "(unnamed rule)".into());
    let severity = optional_string(essentials, "severity", "data.essentials.severity")?
        .unwrap_or_else(|| "unknown severity".into());
    let criteria = criteria(data)?;
    for criterion in &criteria {
        for deployment in &criterion.deployments {
            push_unique(&mut deployments, deployment.clone());
        }
    }
    let verb = match condition {
        AlertCondition::Fired => "fired",
        AlertCondition::Resolved => "resolved",
    };
    let mut summary = format!("Azure Monitor alert '{alert_rule}' ({severity}) {verb}");
    let described: Vec<String> = criteria.iter().map(Criterion::describe).collect();
    if !described.is_empty() {
        summary.push_str(": ");
        summary.push_str(&described.join("; "));
    }
    if !deployments.is_empty() {
        summary.push_str(&format!(" [deployment {}]", deployments.join(", ")));
    }
    Ok(AlertRecord {
        alert_id: alert_id.to_string(),
        condition,
        received_at,
        alert_rule,
        severity,
        target_ids,
        deployments,
        summary,
        payload,
    })
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// One `allOf` entry of the alert context.
struct Criterion {
    /// `metricName`, or "log query" for log-search alerts.
    what: String,
    operator: Option<String>,
    threshold: Option<String>,
    value: Option<f64>,
    deployments: Vec<String>,
}

impl Criterion {
    fn describe(&self) -> String {
        let value = self
            .value
            .map_or_else(|| "value not given".to_string(), |v| format!("{v}"));
        match (&self.operator, &self.threshold) {
            (Some(op), Some(threshold)) => {
                format!("{} = {value}, threshold {op} {threshold}", self.what)
            }
            (None, Some(threshold)) => format!("{} = {value}, threshold {threshold}", self.what),
            _ => format!("{} = {value}", self.what),
        }
    }
}

/// `data.alertContext.condition.allOf[]` (absent for alert types without criteria).
fn criteria(data: &Value) -> Result<Vec<Criterion>, AlertError> {
    let Some(context) = data.get("alertContext").filter(|c| !c.is_null()) else {
        return Ok(Vec::new());
    };
    if !context.is_object() {
        return Err(invalid("data.alertContext", "must be an object"));
    }
    let Some(condition) = context.get("condition").filter(|c| !c.is_null()) else {
        return Ok(Vec::new());
    };
    if !condition.is_object() {
        return Err(invalid("data.alertContext.condition", "must be an object"));
    }
    let all_of = match condition.get("allOf") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(invalid(
                "data.alertContext.condition.allOf",
                "must be an array",
            ));
        }
    };
    let mut out = Vec::new();
    for (index, item) in all_of.iter().enumerate() {
        let base = format!("data.alertContext.condition.allOf[{index}]");
        if !item.is_object() {
            return Err(invalid(&base, "must be an object"));
        }
        let metric = optional_string(item, "metricName", &format!("{base}.metricName"))?;
        let what = match metric {
            Some(name) => name,
            None if item.get("searchQuery").is_some() => "log query result".into(),
            None => "condition".into(),
        };
        let operator = optional_string(item, "operator", &format!("{base}.operator"))?;
        let threshold = match item.get("threshold") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(Value::Number(number)) => Some(number.to_string()),
            Some(_) => {
                return Err(invalid(
                    &format!("{base}.threshold"),
                    "must be a number or a string",
                ));
            }
        };
        let value = match item.get("metricValue") {
            None | Some(Value::Null) => None,
            Some(Value::Number(number)) => number.as_f64(),
            Some(Value::String(text)) => Some(text.trim().parse::<f64>().map_err(|_| {
                invalid(
                    &format!("{base}.metricValue"),
                    format!("is \"{text}\", not a number"),
                )
            })?),
            Some(_) => {
                return Err(invalid(&format!("{base}.metricValue"), "must be a number"));
            }
        };
        let mut deployments = Vec::new();
        match item.get("dimensions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(dimensions)) => {
                for (d, dimension) in dimensions.iter().enumerate() {
                    let field = format!("{base}.dimensions[{d}]");
                    let name = string(dimension, "name", &format!("{field}.name"))?;
                    if DEPLOYMENT_DIMENSIONS.contains(&name.to_ascii_lowercase().as_str()) {
                        let value = string(dimension, "value", &format!("{field}.value"))?;
                        push_unique(&mut deployments, value.trim().to_ascii_lowercase());
                    }
                }
            }
            Some(_) => {
                return Err(invalid(
                    &format!("{base}.dimensions"),
                    "must be an array of {name, value}",
                ));
            }
        }
        out.push(Criterion {
            what,
            operator,
            threshold,
            value,
            deployments,
        });
    }
    Ok(out)
}

fn object<'a>(parent: &'a Value, key: &str, field: &str) -> Result<&'a Value, AlertError> {
    match parent.get(key) {
        None | Some(Value::Null) => Err(missing(field)),
        Some(value) if value.is_object() => Ok(value),
        Some(_) => Err(invalid(field, "must be an object")),
    }
}

fn string<'a>(parent: &'a Value, key: &str, field: &str) -> Result<&'a str, AlertError> {
    match parent.get(key) {
        None | Some(Value::Null) => Err(missing(field)),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

fn optional_string(parent: &Value, key: &str, field: &str) -> Result<Option<String>, AlertError> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: OffsetDateTime = time::macros::datetime!(2026-01-01 00:10 UTC);

    fn metric_alert() -> Value {
        json!({"schemaId":"azureMonitorCommonAlertSchema",
          "data":{"essentials":{
            "alertId":"/subscriptions/S/providers/Microsoft.AlertsManagement/alerts/b9569717",
            "alertRule":"green-p99-latency","severity":"Sev2","signalType":"Metric","monitorCondition":"Fired",
            "monitoringService":"Platform",
            "alertTargetIDs":["/subscriptions/S/resourcegroups/rg/providers/microsoft.machinelearningservices/workspaces/ws/onlineendpoints/my-ep"],
            "configurationItems":["my-ep"],"firedDateTime":"2026-01-01T00:10:24.371Z",
            "essentialsVersion":"1.0","alertContextVersion":"1.0"},
           "alertContext":{"conditionType":"SingleResourceMultipleMetricCriteria",
            "condition":{"windowSize":"PT5M","allOf":[{"metricName":"RequestLatency_P99",
              "operator":"GreaterThan","threshold":"500","timeAggregation":"Average",
              "dimensions":[{"name":"deployment","value":"Green"}],"metricValue":734.2}]}},
           "customProperties":null}})
    }

    fn parse(value: &Value) -> Result<AlertRecord, AlertError> {
        parse_alert(value.to_string().as_bytes(), NOW)
    }

    #[test]
    fn metric_alert_is_read_with_its_numbers() {
        let alert = parse(&metric_alert()).expect("valid alert");
        assert_eq!(alert.condition, AlertCondition::Fired);
        assert_eq!(alert.alert_rule, "green-p99-latency");
        assert_eq!(alert.deployments, vec!["green"]);
        assert!(alert.target_ids[0].ends_with("/onlineendpoints/my-ep"));
        for part in [
            "green-p99-latency",
            "Sev2",
            "RequestLatency_P99 = 734.2",
            "GreaterThan 500",
        ] {
            assert!(
                alert.summary.contains(part),
                "{} lacks {part}",
                alert.summary
            );
        }
    }

    #[test]
    fn log_search_alert_is_read() {
        let body = json!({"schemaId":"azureMonitorCommonAlertSchema",
          "data":{"essentials":{"alertId":"a2","alertRule":"errors","severity":"Sev1",
            "monitorCondition":"Resolved","monitoringService":"Log Alerts V2",
            "alertTargetIDs":["/subscriptions/S/resourceGroups/RG/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/my-ep/deployments/green"]},
           "alertContext":{"conditionType":"LogQueryCriteria","condition":{"windowSize":"PT10M",
             "allOf":[{"searchQuery":"AmlOnlineEndpointTrafficLog | …","operator":"GreaterThan",
               "threshold":"10","timeAggregation":"Count","metricValue":42,
               "dimensions":[{"name":"DeploymentName","value":"green"}]}]}}}});
        let alert = parse(&body).expect("valid log alert");
        assert_eq!(alert.condition, AlertCondition::Resolved);
        assert_eq!(alert.deployments, vec!["green"]);
        assert!(
            alert.summary.contains("log query result = 42"),
            "{}",
            alert.summary
        );
    }

    #[test]
    fn problems_name_the_field() {
        type Change = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|v| v["schemaId"] = json!("other")), "schemaId"),
            (
                Box::new(|v| {
                    v["data"]["essentials"]
                        .as_object_mut()
                        .map(|e| e.remove("alertId"));
                }),
                "data.essentials.alertId",
            ),
            (
                Box::new(|v| v["data"]["essentials"]["monitorCondition"] = json!("Maybe")),
                "data.essentials.monitorCondition",
            ),
            (
                Box::new(|v| v["data"]["essentials"]["alertTargetIDs"] = json!("x")),
                "data.essentials.alertTargetIDs",
            ),
            (
                Box::new(|v| v["data"]["essentials"]["alertTargetIDs"] = json!([7])),
                "data.essentials.alertTargetIDs[0]",
            ),
            (
                Box::new(|v| {
                    v["data"]["alertContext"]["condition"]["allOf"][0]["metricValue"] = json!([1])
                }),
                "data.alertContext.condition.allOf[0].metricValue",
            ),
            (
                Box::new(|v| {
                    v["data"]["alertContext"]["condition"]["allOf"][0]["dimensions"][0]["value"] =
                        json!(3)
                }),
                "data.alertContext.condition.allOf[0].dimensions[0].value",
            ),
        ];
        for (change, field) in cases {
            let mut body = metric_alert();
            change(&mut body);
            let error = parse(&body).expect_err(field);
            assert_eq!(error.field(), Some(field), "{error}");
        }
        assert!(matches!(
            parse_alert(b"{not json", NOW),
            Err(AlertError::NotJson(_))
        ));
    }
}
