//! The master index: `index.json` on `master`, naming each worker branch the catalog
//! publishes (spec/catalog.md, "The master index"):
//!
//! ```json
//! {"workers": ["llm-worker-rbee-cpu", "llm-worker-rbee-cuda"]}
//! ```
//!
//! Each name is a worker id (and so a valid branch name), listed once; other keys are refused.

use serde::{Deserialize, Serialize};

/// The parsed master index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterIndex {
    pub workers: Vec<String>,
}

impl MasterIndex {
    /// Parses and checks `index.json`.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let index: MasterIndex =
            serde_json::from_slice(bytes).map_err(|error| format!("index.json is not a valid index: {error}"))?;
        let mut seen = std::collections::BTreeSet::new();
        for name in &index.workers {
            if !crate::artifact::is_valid_worker_id(name) {
                return Err(format!(
                    "index.json names {name:?}, which is not a worker id (lowercase letters and digits joined by single '-')"
                ));
            }
            if !seen.insert(name) {
                return Err(format!("index.json names {name:?} twice"));
            }
        }
        Ok(index)
    }

    /// Adds a worker (kept sorted); false when it was listed already.
    pub fn add(&mut self, worker_id: &str) -> bool {
        if self.workers.iter().any(|w| w == worker_id) {
            return false;
        }
        self.workers.push(worker_id.to_string());
        self.workers.sort();
        true
    }

    /// The file's bytes (pretty, with a final newline, so diffs read well).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("an index serializes");
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_checks_and_round_trips() {
        let index = MasterIndex::parse(br#"{"workers": ["b-cpu", "a"]}"#).unwrap();
        assert_eq!(index.workers, ["b-cpu", "a"]);
        assert_eq!(MasterIndex::parse(&index.to_bytes()).unwrap(), index);
        for bad in [
            &br#"{"workers": ["A"]}"#[..],
            br#"{"workers": ["a", "a"]}"#,
            br#"{"workers": ["a"], "extra": 1}"#,
            br#"{"workers": "a"}"#,
            b"not json",
            br#"{"workers": ["../x"]}"#,
        ] {
            assert!(MasterIndex::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let mut index = MasterIndex::default();
        assert!(index.add("b") && index.add("a") && !index.add("a"));
        assert_eq!(index.workers, ["a", "b"]);
    }
}
