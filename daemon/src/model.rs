//! Vocabulary shared by the daemon's edges and core: which endpoint, and how its traffic is split.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// An Azure ML managed online endpoint, as ARM addresses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EndpointRef {
    pub subscription: String,
    pub resource_group: String,
    pub workspace: String,
    pub endpoint: String,
}

impl EndpointRef {
    /// The ARM resource id (the path under the ARM base URL).
    pub fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.MachineLearningServices/workspaces/{}/onlineEndpoints/{}",
            self.subscription, self.resource_group, self.workspace, self.endpoint
        )
    }

    /// True when an alert's (lower-cased) target id names this endpoint.
    pub fn matches_resource_id(&self, id: &str) -> bool {
        self.resource_id()
            .eq_ignore_ascii_case(id.trim_end_matches('/'))
    }
}

impl fmt::Display for EndpointRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.resource_group, self.workspace, self.endpoint
        )
    }
}

/// Deployment name (lower case, as the SDK sends it) → percent.
pub type TrafficMap = BTreeMap<String, u32>;

/// An endpoint's live and mirrored traffic, normalised as Azure reports it: keys lower-cased,
/// zero entries dropped. Two splits are equal when they route the same traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub traffic: TrafficMap,
    #[serde(default)]
    pub mirror: TrafficMap,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("live traffic sums to {0}%, Azure requires exactly 100% (or no live traffic at all)")]
    TrafficSum(u32),
    #[error("mirrored traffic sums to {0}%, Azure allows at most 50%")]
    MirrorTooLarge(u32),
    #[error("mirrored traffic targets {0} deployments, Azure allows one")]
    MirrorTargets(usize),
    #[error("deployment '{0}' has both live and mirrored traffic; Azure allows one or the other")]
    LiveAndMirrored(String),
    #[error("deployment '{0}' has {1}%, above 100%")]
    OverHundred(String, u32),
}

impl Split {
    pub fn new(traffic: TrafficMap, mirror: TrafficMap) -> Self {
        Self {
            traffic: normalise(traffic),
            mirror: normalise(mirror),
        }
    }

    /// All live traffic on one deployment, no mirror.
    pub fn all_to(deployment: &str) -> Self {
        Self::new(
            TrafficMap::from([(deployment.to_string(), 100)]),
            TrafficMap::new(),
        )
    }

    pub fn traffic_of(&self, deployment: &str) -> u32 {
        self.traffic
            .get(&deployment.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    pub fn mirror_of(&self, deployment: &str) -> u32 {
        self.mirror
            .get(&deployment.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// Azure's validation rules for an endpoint's maps (azure-apis.md §1). The controller
    /// never sends a split that fails them.
    pub fn validate(&self) -> Result<(), SplitError> {
        for (name, pct) in self.traffic.iter().chain(self.mirror.iter()) {
            if *pct > 100 {
                return Err(SplitError::OverHundred(name.clone(), *pct));
            }
        }
        let live: u32 = self.traffic.values().sum();
        if live != 0 && live != 100 {
            return Err(SplitError::TrafficSum(live));
        }
        let mirrored: u32 = self.mirror.values().sum();
        if mirrored > 50 {
            return Err(SplitError::MirrorTooLarge(mirrored));
        }
        if self.mirror.len() > 1 {
            return Err(SplitError::MirrorTargets(self.mirror.len()));
        }
        if let Some(name) = self.mirror.keys().find(|k| self.traffic.contains_key(*k)) {
            return Err(SplitError::LiveAndMirrored(name.clone()));
        }
        Ok(())
    }
}

fn normalise(map: TrafficMap) -> TrafficMap {
    map.into_iter()
        .filter(|(_, pct)| *pct > 0)
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let live: Vec<String> = self
            .traffic
            .iter()
            .map(|(k, v)| format!("{k}={v}%"))
            .collect();
        write!(
            f,
            "{}",
            if live.is_empty() {
                "none".into()
            } else {
                live.join(" ")
            }
        )?;
        if !self.mirror.is_empty() {
            let m: Vec<String> = self
                .mirror
                .iter()
                .map(|(k, v)| format!("{k}={v}%"))
                .collect();
            write!(f, " (mirror {})", m.join(" "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, u32)]) -> TrafficMap {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn normalises_like_azure() {
        let s = Split::new(map(&[("Blue", 100), ("green", 0)]), map(&[]));
        assert_eq!(s.traffic, map(&[("blue", 100)]));
        assert_eq!(s.traffic_of("BLUE"), 100);
        assert_eq!(s.traffic_of("green"), 0);
    }

    #[test]
    fn enforces_azures_rules() {
        assert!(
            Split::new(map(&[("blue", 95), ("green", 5)]), map(&[]))
                .validate()
                .is_ok()
        );
        assert!(Split::new(map(&[]), map(&[])).validate().is_ok());
        assert_eq!(
            Split::new(map(&[("blue", 95)]), map(&[])).validate(),
            Err(SplitError::TrafficSum(95))
        );
        assert_eq!(
            Split::new(map(&[("blue", 100)]), map(&[("green", 51)])).validate(),
            Err(SplitError::MirrorTooLarge(51))
        );
        assert_eq!(
            Split::new(map(&[("blue", 100)]), map(&[("green", 10), ("red", 10)])).validate(),
            Err(SplitError::MirrorTargets(2))
        );
        assert_eq!(
            Split::new(map(&[("blue", 90), ("green", 10)]), map(&[("green", 10)])).validate(),
            Err(SplitError::LiveAndMirrored("green".into()))
        );
    }

    #[test]
    fn resource_ids_compare_case_insensitively() {
        let ep = EndpointRef {
            subscription: "S".into(),
            resource_group: "RG".into(),
            workspace: "WS".into(),
            endpoint: "my-ep".into(),
        };
        assert!(ep.matches_resource_id(
            "/subscriptions/s/resourcegroups/rg/providers/microsoft.machinelearningservices/workspaces/ws/onlineendpoints/my-ep"
        ));
        assert!(!ep.matches_resource_id("/subscriptions/s/resourcegroups/rg"));
    }
}
