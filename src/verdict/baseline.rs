//! Baselines: a previous run's JSON or NDJSON output. Each current finding is
//! marked `new` or `unchanged` by its fingerprint, and the baseline's findings
//! that no longer appear are listed as resolved.

use crate::model::Finding;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

/// A baseline that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {msg}")]
pub struct BaselineError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub msg: String,
}

/// Fingerprints of a previous run's findings.
#[derive(Debug)]
pub struct Baseline {
    known: BTreeMap<String, Value>,
    seen: Mutex<HashSet<String>>,
}

fn collect(v: &Value, out: &mut BTreeMap<String, Value>) {
    if let Some(f) = v.get("finding") {
        if let Some(fp) = f.get("fingerprint").and_then(Value::as_str) {
            out.insert(
                fp.to_string(),
                json!({
                    "fingerprint": fp,
                    "rule": f.get("rule"),
                    "severity": f.get("severity"),
                    "ip": v.get("ip"),
                    "port": v.get("port"),
                }),
            );
        }
    }
}

impl Baseline {
    /// Reads a JSON document or NDJSON stream written by exposecheck.
    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| BaselineError {
            file: file.clone(),
            msg: format!("cannot read: {e}"),
        })?;
        Baseline::parse(&text).map_err(|msg| BaselineError { file, msg })
    }

    /// Parses baseline text.
    pub fn parse(text: &str) -> Result<Baseline, String> {
        let mut known = BTreeMap::new();
        let docs: Vec<Value> = match serde_json::from_str::<Value>(text) {
            Ok(doc) if doc.get("results").is_some() => vec![doc],
            _ => {
                let mut v = Vec::new();
                for (n, line) in text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                {
                    v.push(serde_json::from_str(line).map_err(|e| {
                        format!(
                            "line {}: not exposecheck JSON or NDJSON output ({e})",
                            n + 1
                        )
                    })?);
                }
                v
            }
        };
        let mut recognised = false;
        let list = |d: &Value, key: &str| -> Vec<Value> {
            d.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        for doc in &docs {
            if doc.get("results").is_some() {
                recognised = true;
                for r in list(doc, "results").iter().chain(&list(doc, "findings")) {
                    collect(r, &mut known);
                }
            }
            match doc.get("type").and_then(Value::as_str) {
                Some("port") | Some("finding") => {
                    recognised = true;
                    collect(doc, &mut known);
                }
                Some("summary") | Some("host") => recognised = true,
                _ => {}
            }
        }
        if !recognised {
            return Err("not exposecheck JSON or NDJSON output".into());
        }
        Ok(Baseline {
            known,
            seen: Mutex::new(HashSet::new()),
        })
    }

    /// Marks a finding `new` or `unchanged`.
    pub fn mark(&self, f: &mut Finding) {
        let known = self.known.contains_key(&f.fingerprint);
        if known {
            self.seen
                .lock()
                .expect("not poisoned")
                .insert(f.fingerprint.clone());
        }
        f.baseline = Some(if known { "unchanged" } else { "new" }.into());
    }

    /// The baseline's findings never marked since.
    pub fn resolved(&self) -> Vec<Value> {
        let seen = self.seen.lock().expect("not poisoned");
        self.known
            .iter()
            .filter(|(fp, _)| !seen.contains(*fp))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_and_json_baselines() {
        let nd = r#"{"type":"port","ip":"198.18.0.2","port":6379,"finding":{"rule":"redis-unauthenticated","severity":"critical","fingerprint":"aa"}}
{"type":"port","ip":"198.18.0.2","port":22,"finding":{"rule":"ssh-public","severity":"info","fingerprint":"bb"}}
{"type":"finding","ip":"fd00:e0c::2","port":80,"finding":{"rule":"dual-stack-mismatch","fingerprint":"cc"}}
{"type":"summary","schema":"exposecheck/1"}
"#;
        let b = Baseline::parse(nd).unwrap();
        let mut f = Finding {
            fingerprint: "aa".into(),
            ..Finding::default()
        };
        b.mark(&mut f);
        assert_eq!(f.baseline.as_deref(), Some("unchanged"));
        let mut g = Finding {
            fingerprint: "zz".into(),
            ..Finding::default()
        };
        b.mark(&mut g);
        assert_eq!(g.baseline.as_deref(), Some("new"));
        let resolved: Vec<String> = b
            .resolved()
            .iter()
            .map(|v| v["fingerprint"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(resolved, vec!["bb", "cc"]);
        let doc = r#"{"schema":"exposecheck/1","results":[{"ip":"198.18.0.2","port":6379,"finding":{"fingerprint":"aa"}}]}"#;
        assert_eq!(Baseline::parse(doc).unwrap().known.len(), 1);
        assert!(Baseline::parse("hello\n").is_err());
        assert!(Baseline::parse("{\"a\":1}\n").is_err());
    }
}
