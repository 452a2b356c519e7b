//! Finds where a key path such as `plan.steps[2].traffic` sits in a YAML document, for
//! semantic errors found after parsing.
//!
//! serde_yaml_ng marks any error raised while deserializing a node with that node's
//! position; the probe walks the document along the path and deliberately fails at the
//! target node, then reads the position off the error. No second parser, no text scanning.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// One step of a path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Splits `plan.steps[2].traffic` into segments.
pub fn parse_path(path: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            if open > 0 {
                segments.push(Segment::Key(rest[..open].to_string()));
            }
            rest = &rest[open..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(close) = stripped.find(']') else {
                    break;
                };
                if let Ok(index) = stripped[..close].parse() {
                    segments.push(Segment::Index(index));
                }
                rest = &stripped[close + 1..];
            }
        } else {
            segments.push(Segment::Key(rest.to_string()));
        }
    }
    segments
}

/// 1-based line and column of the key or element at `path` when it is in the document.
pub fn locate_exact(text: &str, path: &str) -> Option<(usize, usize)> {
    let segments = parse_path(path);
    if segments.is_empty() {
        return None;
    }
    probe(text, &segments)
}

/// 1-based line and column of the node (for a key: the key itself) at `path`, or of its
/// nearest existing ancestor; `None` when not even the root can be located.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let segments = parse_path(path);
    for len in (1..=segments.len()).rev() {
        if let Some(found) = probe(text, &segments[..len]) {
            return Some(found);
        }
    }
    None
}

const PROBE_MESSAGE: &str = "canaryd-locate-probe";

fn probe(text: &str, segments: &[Segment]) -> Option<(usize, usize)> {
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    match (Probe { path: segments }).deserialize(deserializer) {
        Ok(()) => None,
        Err(error) => {
            if !error.to_string().contains(PROBE_MESSAGE) {
                return None;
            }
            error.location().map(|l| (l.line(), l.column()))
        }
    }
}

struct Probe<'a> {
    path: &'a [Segment],
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.path.first() {
            // Fail on whatever node sits here: the error gets its position.
            None => deserializer.deserialize_any(Fail),
            Some(Segment::Key(_)) => deserializer.deserialize_any(self),
            Some(Segment::Index(_)) => deserializer.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some(Segment::Key(wanted)) = self.path.first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let last = self.path.len() == 1;
        while let Some(matched) = map.next_key_seed(KeyProbe {
            wanted,
            fail_on_match: last,
        })? {
            if matched {
                return map.next_value_seed(Probe {
                    path: &self.path[1..],
                });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some(Segment::Index(wanted)) = self.path.first() else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut index = 0;
        loop {
            if index == *wanted {
                return seq
                    .next_element_seed(Probe {
                        path: &self.path[1..],
                    })
                    .map(|_| ());
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    // Scalars on the way: the path does not exist below them.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Ok(())
    }
}

/// Reads one mapping key; true when it is the wanted one. With `fail_on_match` it fails on
/// the matching key instead, so that the position is the key's.
struct KeyProbe<'a> {
    wanted: &'a str,
    fail_on_match: bool,
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyProbe<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        let matched = key == self.wanted;
        if matched && self.fail_on_match {
            return Err(E::custom(PROBE_MESSAGE));
        }
        Ok(matched)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

struct Fail;

impl<'de> Visitor<'de> for Fail {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any node")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(PROBE_MESSAGE))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(PROBE_MESSAGE))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(PROBE_MESSAGE))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(PROBE_MESSAGE))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(PROBE_MESSAGE))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(PROBE_MESSAGE))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(PROBE_MESSAGE))
    }
    fn visit_some<D: Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(de::Error::custom(PROBE_MESSAGE))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(PROBE_MESSAGE))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(PROBE_MESSAGE))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(PROBE_MESSAGE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
target:
  endpoint: ep
plan:
  steps:
    - 5
    - { traffic: 10 }
    - traffic: 25
      min_duration: 5m
  interval: 1m
";

    #[test]
    fn parses_paths() {
        assert_eq!(
            parse_path("plan.steps[2].traffic"),
            vec![
                Segment::Key("plan".into()),
                Segment::Key("steps".into()),
                Segment::Index(2),
                Segment::Key("traffic".into())
            ]
        );
    }

    #[test]
    fn finds_keys_elements_and_ancestors() {
        assert_eq!(locate(DOC, "plan.interval"), Some((9, 3)));
        assert_eq!(locate(DOC, "plan.steps[0]"), Some((5, 7)));
        assert_eq!(locate(DOC, "plan.steps[1].traffic"), Some((6, 9)));
        assert_eq!(locate(DOC, "plan.steps[2].traffic"), Some((7, 7)));
        assert_eq!(locate(DOC, "plan.steps[2].min_duration"), Some((8, 7)));
        // Missing key: its nearest ancestor.
        assert_eq!(locate(DOC, "plan.deadline"), Some((3, 1)));
        assert_eq!(locate(DOC, "target.endpoint"), Some((2, 3)));
    }
}
