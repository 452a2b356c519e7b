//! The judge's answer: one [`CheckResult`] per check, with the numbers behind it, and an overall
//! [`Verdict`].

use serde::{Deserialize, Serialize};

/// JSON has no ∞ or NaN (serde_json writes them as `null`, which cannot be read back into an
/// f64). Verdicts are journaled, so non-finite numbers are written as the strings `"inf"`,
/// `"-inf"` and `"NaN"` and read back from either form.
pub mod non_finite {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(f64),
        Text(String),
    }

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_finite() {
            serializer.serialize_f64(*value)
        } else if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if *value > 0.0 {
            serializer.serialize_str("inf")
        } else {
            serializer.serialize_str("-inf")
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        match NumberOrText::deserialize(deserializer)? {
            NumberOrText::Number(value) => Ok(value),
            NumberOrText::Text(text) => match text.as_str() {
                "inf" | "+inf" | "Infinity" => Ok(f64::INFINITY),
                "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
                "NaN" | "nan" => Ok(f64::NAN),
                other => Err(serde::de::Error::custom(format!("not a number: {other:?}"))),
            },
        }
    }

    /// The same for `Option<f64>` (`null` is None).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            value: &Option<f64>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => super::serialize(value, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<f64>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapped(#[serde(with = "super")] f64);
            Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(value)| value))
        }
    }
}

/// What a check (or the whole judge) concluded at this look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Proven worse than allowed: roll back.
    Regressed,
    /// Proven within the allowed margin: may promote early.
    Safe,
    /// Not enough evidence either way yet: hold (never a failure).
    Inconclusive,
    /// An arm has no requests: nothing to judge.
    NoData,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Regressed => "REGRESSED",
            Outcome::Safe => "SAFE",
            Outcome::Inconclusive => "INCONCLUSIVE",
            Outcome::NoData => "NO DATA",
        }
    }

    /// Overall outcome of several checks: any Regressed wins; all NoData is NoData; all Safe is
    /// Safe; anything else holds.
    pub fn combine(outcomes: impl IntoIterator<Item = Outcome>) -> Outcome {
        let (mut any, mut all_safe, mut all_no_data) = (false, true, true);
        for outcome in outcomes {
            any = true;
            if outcome == Outcome::Regressed {
                return Outcome::Regressed;
            }
            all_safe &= outcome == Outcome::Safe;
            all_no_data &= outcome == Outcome::NoData;
        }
        match (any, all_safe, all_no_data) {
            (false, _, _) | (_, _, true) => Outcome::NoData,
            (_, true, _) => Outcome::Safe,
            _ => Outcome::Inconclusive,
        }
    }
}

/// A closed interval `[lower, upper]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    #[serde(with = "non_finite")]
    pub lower: f64,
    #[serde(with = "non_finite")]
    pub upper: f64,
}

/// Hodges-Lehmann shift (on log-spaced bins: a ratio canary/baseline) and its Moses interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HodgesLehmannEvidence {
    #[serde(with = "non_finite")]
    pub estimate: f64,
    #[serde(with = "non_finite")]
    pub lower: f64,
    #[serde(with = "non_finite")]
    pub upper: f64,
}

/// The fixed-sample Mann-Whitney numbers of a latency check on the cumulative histograms
/// (descriptive: the decision uses the anytime-valid boundary).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MannWhitneyEvidence {
    /// U of the canary (ties counted half).
    #[serde(with = "non_finite")]
    pub u: f64,
    /// Continuity- and tie-corrected z for "canary slower".
    #[serde(with = "non_finite")]
    pub z: f64,
    /// One-sided asymptotic p-value for "canary slower" (fixed sample, single look).
    #[serde(with = "non_finite")]
    pub p_value: f64,
    /// Common-language effect size P(canary > baseline) + ½P(tie).
    #[serde(with = "non_finite")]
    pub cles: f64,
    pub hodges_lehmann: Option<HodgesLehmannEvidence>,
}

/// One check's conclusion and its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Stable name, e.g. `latency_shift`, `latency_p99`, `errors_model`, `absolute_p99_ms`.
    pub name: String,
    pub outcome: Outcome,
    /// Point estimate in the check's own unit (ratio, milliseconds, rate), when there is one.
    #[serde(with = "non_finite::option", default)]
    pub estimate: Option<f64>,
    /// Interval for the estimate (see each check for its kind and level).
    pub interval: Option<Interval>,
    pub n_baseline: u64,
    pub n_canary: u64,
    /// The policy's limit in the estimate's unit.
    #[serde(with = "non_finite")]
    pub threshold: f64,
    /// The test statistic (normalised rank statistic, log e-value, ...), when there is one.
    #[serde(with = "non_finite::option", default)]
    pub statistic: Option<f64>,
    /// Evidence for "regressed" as an e-value (reject at ≥ 1/alpha).
    #[serde(with = "non_finite::option", default)]
    pub e_value: Option<f64>,
    /// Evidence for "safe" as an e-value.
    #[serde(with = "non_finite::option", default)]
    pub e_value_safe: Option<f64>,
    /// This check's share of the family-wise alpha.
    #[serde(with = "non_finite")]
    pub alpha: f64,
    /// One sentence with the numbers.
    pub reason: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none", default)]
    pub mann_whitney: Option<MannWhitneyEvidence>,
}

impl CheckResult {
    /// A check with nothing to judge.
    pub fn no_data(
        name: impl Into<String>,
        threshold: f64,
        alpha: f64,
        n_baseline: u64,
        n_canary: u64,
        reason: String,
    ) -> Self {
        CheckResult {
            name: name.into(),
            outcome: Outcome::NoData,
            estimate: None,
            interval: None,
            n_baseline,
            n_canary,
            threshold,
            statistic: None,
            e_value: None,
            e_value_safe: None,
            alpha,
            reason,
            mann_whitney: None,
        }
    }
}

/// The judge's answer at one look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub overall: Outcome,
    pub checks: Vec<CheckResult>,
    pub summary: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_survive_json() {
        let interval = Interval {
            lower: f64::NEG_INFINITY,
            upper: f64::INFINITY,
        };
        let json = serde_json::to_string(&interval).expect("serializes");
        assert_eq!(json, r#"{"lower":"-inf","upper":"inf"}"#);
        let back: Interval = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, interval);
        let mut check = CheckResult::no_data("x", 1.5, 0.05, 1, 2, "r".to_string());
        check.e_value = Some(f64::INFINITY);
        check.estimate = Some(f64::NAN);
        let back: CheckResult =
            serde_json::from_str(&serde_json::to_string(&check).expect("serializes"))
                .expect("reads back");
        assert_eq!(back.e_value, Some(f64::INFINITY));
        assert!(back.estimate.is_some_and(f64::is_nan));
        assert_eq!(back.statistic, None);
        assert_eq!(back.mann_whitney, None);
    }

    #[test]
    fn combination_rules() {
        use Outcome::*;
        assert_eq!(Outcome::combine([Safe, Regressed, NoData]), Regressed);
        assert_eq!(Outcome::combine([Safe, Safe]), Safe);
        assert_eq!(Outcome::combine([Safe, NoData]), Inconclusive);
        assert_eq!(Outcome::combine([NoData, NoData]), NoData);
        assert_eq!(Outcome::combine([]), NoData);
        assert_eq!(Outcome::combine([Safe, Inconclusive]), Inconclusive);
    }
}
